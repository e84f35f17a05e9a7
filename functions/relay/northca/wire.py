"""Northca's wire format for active units, in one place: the list answer read into typed partner units,
unit records written as an upsert body, and the ids an upsert's answer confirms. The consumer never
sees a JSON shape (relay.ports.partner holds the types it sees).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from relay.errors import NorthcaUnreadableListError
from relay.models import UNIT_FIELDS
from relay.ports.partner import PartnerUnit, UnitRecord


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
