"""Northca's wire format for active units, in one place: the list answer read into typed partner units,
unit records written as an upsert body, and the ids an upsert's answer confirms. The consumer never
sees a JSON shape (relay.ports.partner holds the types it sees).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from relay.models import UNIT_FIELDS
from relay.ports.partner import PartnerUnit, UnitRecord


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
