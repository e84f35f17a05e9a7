"""What the MDT showed, and when: its history rebuilt from the Northca emulator's request log (every
upsert it stored, with its time and body) and the dispatcher's edits, and its list at the end.

An upsert replaces every writable field (the partner's observed behaviour: a field left out is
stored as ""), an edit changes the fields it names. Pure: the driver fetches the log and the list."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from relay_devtools.gamenight import rules
from relay_devtools.gamenight.records import Edit

WRITABLE = ("officer_name", "officer_badge", "department", "rank", "status")
Record = dict[str, str]


@dataclass(frozen=True)
class Write:
    at: float
    unit_id: str
    record: Record
    by: str  # "relay" or "dispatcher"
    before: Record | None


@dataclass
class MdtHistory:
    """Writes per canonical unit, in time order; each holds the whole record after it."""

    writes: dict[str, list[Write]] = field(default_factory=dict)

    def of(self, unit: str) -> list[Write]:
        return self.writes.get(unit, [])

    def record_at(self, unit: str, at: float) -> Record | None:
        """The unit as a dispatcher saw it at `at`: of several ids for one officer, the one written last."""
        found = None
        for write in self.of(unit):
            if write.at > at:
                break
            found = write.record
        return found

    def first_time(self, unit: str, start: float, holds: Callable[[Record | None], bool]) -> float | None:
        """The first moment at or after `start` when the unit's record satisfies `holds`."""
        if holds(self.record_at(unit, start)):
            return start
        for write in self.of(unit):
            if write.at > start and holds(write.record):
                return write.at
        return None


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def history(requests: Iterable[Mapping[str, Any]], edits: Iterable[Edit]) -> MdtHistory:
    """The MDT's history from the emulator's request log (PUTs answered 200, and late landings) and
    the edits that were applied."""
    events: list[tuple[float, str, Record, str]] = []
    for entry in requests:
        if entry.get("method") != "PUT" or entry.get("status") != 200:
            continue
        body = entry.get("body")
        units = body.get("units") if isinstance(body, dict) else None
        for unit in units if isinstance(units, list) else []:
            if isinstance(unit, dict) and isinstance(unit.get("id"), str):
                fields = {name: unit.get(name) or "" for name in WRITABLE}
                events.append((parse_time(str(entry["at"])), unit["id"], fields, "relay"))
    for edit in edits:
        if edit.applied and edit.unit_id is not None:
            events.append((edit.at, edit.unit_id, dict(edit.fields), "dispatcher"))
    events.sort(key=lambda e: e[0])
    current: dict[str, Record] = {}
    result = MdtHistory()
    for at, unit_id, fields, by in events:
        before = current.get(unit_id)
        record = {**(before or dict.fromkeys(WRITABLE, "")), **fields} if by == "dispatcher" else fields
        record = {**record, "id": unit_id}
        current[unit_id] = record
        write = Write(at, unit_id, record, by, before)
        result.writes.setdefault(rules.canonical_id(unit_id), []).append(write)
    return result


def by_officer(listed: Iterable[Mapping[str, Any]]) -> dict[str, list[Record]]:
    """The MDT's list grouped by officer (canonical id), the most recently updated record first."""
    groups: dict[str, list[Record]] = {}
    for item in listed:
        if isinstance(item, Mapping) and isinstance(item.get("id"), str):
            record = {str(k): "" if v is None else str(v) for k, v in item.items()}
            groups.setdefault(rules.canonical_id(record["id"]), []).append(record)
    for records in groups.values():
        records.sort(key=lambda r: r.get("updated_at", ""), reverse=True)
    return groups
