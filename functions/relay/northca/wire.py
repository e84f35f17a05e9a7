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

from relay.models import CALL_FIELDS, UNIT_FIELDS
from relay.ports.partner import CallRecord, CallValue, NewCall, PanicAnswer, PartnerUnit, UnitRecord


def read_unit_list(data: Any) -> dict[str, PartnerUnit]:
    """The units of a list answer's `data` by id (trimmed, as the partner trims ids); entries that are
    not unit records are ignored. Read so that an odd answer never blanks a field: a value that is not
    a string keeps its JSON text (null is the partner's unset, ""), and of two entries for one id the one
    with the later `updated_at` counts (the first on a tie)."""
    units: dict[str, PartnerUnit] = {}
    for record in data if isinstance(data, list) else []:
        if not isinstance(record, dict) or not isinstance(unit_id := record.get("id"), str):
            continue
        unit = PartnerUnit(
            {name: _text(record.get(name)) for name in UNIT_FIELDS}, _instant(record.get("updated_at"))
        )
        unit_id = unit_id.strip()
        if unit_id not in units or _later(unit.updated_at, units[unit_id].updated_at):
            units[unit_id] = unit
    return units


def _text(value: Any) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:  # NaN and friends: the text Python would print
        return str(value)


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


def panic_body(address: str | None) -> bytes:
    return json.dumps({"address": address}, separators=(",", ":")).encode()


def read_panic(data: Any) -> PanicAnswer:
    unit = data.get("unit_id") if isinstance(data, dict) else None
    at = data.get("ts") if isinstance(data, dict) else None
    return PanicAnswer(unit if isinstance(unit, str) else None, _instant(at))
