"""Northca's wire format, in one place: for active units, the list answer read into typed partner units,
unit records written as an upsert body, and the ids an upsert's answer confirms; for calls and panics,
their bodies and answers. The consumer never sees a JSON shape (relay.ports.partner holds the types it
sees).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from relay.errors import NorthcaUnreadableListError
from relay.models import CALL_FIELDS, UNIT_FIELDS
from relay.ports.partner import CallRecord, CallValue, NewCall, PanicAnswer, PartnerUnit, UnitRecord


def read_unit_list(data: Any) -> dict[str, PartnerUnit]:
    """The units of a list answer's `data` by id (trimmed, as the partner trims ids), or
    NorthcaUnreadableListError when any of it cannot be read for sure.

    The list endpoint is not in the contract: it is read as a list of the contract's ActiveUnit records.
    Every entry must be an object with a text `id`, listed once, and every writable field present as
    text or null (null is the partner's unset, ""): a partner that stores "" for an omitted field sends
    every key. Anything else (junk, a numeric id, a missing field, a number where text goes) could only
    be guessed at, and a wrong guess makes a unit look new or a field look blank, which a PUT then
    blanks at the partner. Other keys are ignored; an `updated_at` that cannot be read is None (the
    consumer then dates what it sees by the read: it never reverts another writer's value for that).
    """
    if not isinstance(data, list):
        raise NorthcaUnreadableListError(f"the list answer cannot be read: data is {_kind(data)}, not a list")
    units: dict[str, PartnerUnit] = {}
    problems: list[str] = []
    for index, entry in enumerate(data):
        problem = _entry_problem(index, entry)
        if problem is None:
            unit_id = entry["id"].strip()
            if unit_id in units:
                problem = f"entry {index}: id {_shown(unit_id)!r} is listed twice"
            else:
                fields: dict[str, str] = {name: entry[name] or "" for name in UNIT_FIELDS}
                units[unit_id] = PartnerUnit(fields, _instant(entry.get("updated_at")))
        if problem is not None:
            problems.append(problem)
    if problems:
        named = "; ".join(problems[:MAX_PROBLEMS_NAMED])
        left = len(problems) - MAX_PROBLEMS_NAMED
        more = f"; and {left} more" if left > 0 else ""
        raise NorthcaUnreadableListError(f"the list answer cannot be read: {named}{more}")
    return units


# An unreadable list's reason names this many of its problems (a log line, a dead letter's reason).
MAX_PROBLEMS_NAMED = 3
MAX_ID_SHOWN = 40
_MISSING = object()


def _entry_problem(index: int, entry: Any) -> str | None:
    """What makes one entry unreadable, or None."""
    if not isinstance(entry, dict):
        return f"entry {index} is not a unit record ({_kind(entry)})"
    unit_id = entry.get("id", _MISSING)
    if not isinstance(unit_id, str):
        return f"entry {index}: id is not a string ({_kind(unit_id)})"
    if not unit_id.strip():
        return f"entry {index}: id is empty"
    where = f"entry {index} ({_shown(unit_id.strip())})"
    for name in UNIT_FIELDS:
        if name not in entry:
            return f"{where}: no {name}"
        if entry[name] is not None and not isinstance(entry[name], str):
            return f"{where}: {name} is not text ({_kind(entry[name])})"
    return None


def _kind(value: Any) -> str:
    if value is _MISSING:
        return "missing"
    return "null" if value is None else type(value).__name__


def _shown(text: str) -> str:
    """A partner's id as a reason shows it: control characters written out, at most MAX_ID_SHOWN long."""
    short = text if len(text) <= MAX_ID_SHOWN else text[:MAX_ID_SHOWN] + "…"
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in short)


def _later(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and (b is None or a > b)


def _instant(value: Any) -> datetime | None:
    """An aware time as `fromisoformat` reads it (RFC 3339 with "Z" or "z" among what it takes); None for
    anything else, or a time without an offset."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def record_json(record: UnitRecord) -> dict[str, str]:
    """One unit of an upsert body: `id` first, then every field sent."""
    return {"id": record.unit_id, **record.fields}


def upsert_body(records: Sequence[UnitRecord]) -> bytes:
    return json.dumps({"units": [record_json(r) for r in records]}, separators=(",", ":")).encode()


def confirmed_ids(data: Any) -> frozenset[str]:
    """The ids an upsert answer's `data` lists: only those are known to be written."""
    units = data if isinstance(data, list) else []
    return frozenset(u["id"] for u in units if isinstance(u, dict) and isinstance(u.get("id"), str))


# ------------------------------------------------------------------------------ calls and panics


def call_json(fields: Mapping[str, CallValue]) -> dict[str, Any]:
    """Call fields as the partner takes them: text, and `units_assigned` as a list."""
    return {name: list(value) if isinstance(value, tuple) else value for name, value in fields.items()}


def create_call_body(call: NewCall) -> bytes:
    """A create: the id the relay chose first, then the fields, then who created it (when known)."""
    body: dict[str, Any] = {"id": call.call_id, **call_json(call.fields)}
    if call.created_by:
        body["created_by"] = call.created_by
    return json.dumps(body, separators=(",", ":")).encode()


def update_call_body(fields: Mapping[str, CallValue]) -> bytes:
    return json.dumps(call_json(fields), separators=(",", ":")).encode()


def read_call(data: Any) -> CallRecord | None:
    """A call answer's `data` as a record, or None when it is not one. A value that is neither text nor a
    list of text keeps its JSON text, so an odd answer never reads as a blank; a unit id list keeps its
    entries that are text."""
    if not isinstance(data, dict) or not isinstance(call_id := data.get("id"), str | int):
        return None
    fields: dict[str, CallValue] = {}
    for name in CALL_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if name == "units_assigned" and isinstance(value, list):
            fields[name] = tuple(item.strip() for item in value if isinstance(item, str))
        else:
            fields[name] = _text(value)
    return CallRecord(str(call_id), fields, _instant(data.get("updated_at")))


def _text(value: Any) -> str:
    """A call field's value as text: a JSON value keeps its JSON text (never a blank), null is blank."""
    if value is None or isinstance(value, str):
        return value or ""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:  # NaN and friends: the text Python would print
        return str(value)


def panic_body(address: str | None) -> bytes:
    return json.dumps({"address": address}, separators=(",", ":")).encode()


def read_panic(data: Any) -> PanicAnswer:
    unit = data.get("unit_id") if isinstance(data, dict) else None
    at = data.get("ts") if isinstance(data, dict) else None
    return PanicAnswer(unit if isinstance(unit, str) else None, _instant(at))
