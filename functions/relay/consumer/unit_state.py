"""Unit state: what the relay knows about each unit, field by field, to deliver changes and not snapshots.

One item per unit in the state table (`pk = unit#<mdt_id>#<guild_id>`, `sk = <unit id>`), written only
with a condition on the `version` the writer read, so two consumers never overwrite each other. For
each writable field:

- `change`: the newest change a source made to the field (value, event time, tie-break), and
  `pending`: whether it still has to be delivered (neither confirmed written nor superseded);
- `base`: what the relay believes the partner holds for the field and how new that is: a value the
  relay confirmed writing (`ours`, dated by its change), or another writer's value the relay saw
  (dated by the partner's `updated_at` for the unit, and winning ties);
- `sent`: the values the relay's PUTs carried recently, each with the baseline it stood for and when
  it was sent, so that a PUT of its own seen again (landing late, or written while the answer was
  lost) is recognised as such and not taken for another writer's edit.

The port is relay.ports.UnitStateStore (DynamoDB in relay.aws.dynamodb, memory in relay.memory); the
protocol on top of it is relay.consumer.plan and docs/consumer.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from relay.consumer.merge import FieldStamp
from relay.models import UNIT_PREFIX

# Another writer's value wins a tie with a relay change of the same instant ("later than" is strict).
OTHER_WRITER = "\uffff"
# A blank the relay caused (a field a create left out): any change is newer.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Recently sent values kept per field, newest last.
MAX_SENT = 6


@dataclass(frozen=True, order=True)
class UnitKey:
    mdt_id: str
    guild_id: str
    unit_id: str

    @property
    def pk(self) -> str:
        return f"{UNIT_PREFIX}{self.mdt_id}#{self.guild_id}"

    @property
    def sk(self) -> str:
        return self.unit_id


@dataclass(frozen=True)
class Baseline:
    """A field's value at the partner as the relay knows it, and the instant that makes it so."""

    value: str
    at: datetime
    tiebreak: str
    ours: bool

    def key(self) -> tuple[datetime, str]:
        return (self.at, self.tiebreak)

    @classmethod
    def written(cls, change: FieldStamp) -> Baseline:
        return cls(change.value or "", change.at, change.tiebreak, ours=True)

    @classmethod
    def observed(cls, value: str, updated_at: datetime) -> Baseline:
        return cls(value, updated_at, OTHER_WRITER, ours=False)

    @property
    def is_blank(self) -> bool:
        return self.ours and self.value == "" and self.at == EPOCH

    @classmethod
    def blank(cls) -> Baseline:
        """The partner's "" for a field an upsert of ours left out."""
        return cls("", EPOCH, "", ours=True)


@dataclass(frozen=True)
class Sent:
    """A value a PUT of the relay's carried, what it stood for, and when it was sent."""

    base: Baseline
    at: datetime

    @property
    def value(self) -> str:
        return self.base.value


@dataclass(frozen=True)
class FieldState:
    change: FieldStamp | None = None
    pending: bool = False
    base: Baseline | None = None
    sent: tuple[Sent, ...] = ()

    def with_sent(self, base: Baseline, at: datetime) -> FieldState:
        kept = tuple(s for s in self.sent if s.base != base)
        return replace(self, sent=(*kept, Sent(base, at))[-MAX_SENT:])


@dataclass(frozen=True)
class UnitState:
    """What the store holds for one unit; `version` 0 means there is no item yet."""

    key: UnitKey
    fields: Mapping[str, FieldState] = field(default_factory=dict)
    version: int = 0

    def field(self, name: str) -> FieldState:
        return self.fields.get(name, FieldState())

    @property
    def pending(self) -> dict[str, FieldStamp]:
        return {n: f.change for n, f in self.fields.items() if f.pending and f.change is not None}


# ------------------------------------------------------------------------------ the stored form


def _instant(value: datetime) -> str:
    return value.isoformat()


def fields_to_json(fields: Mapping[str, FieldState]) -> str:
    """The fields as the one JSON document the store keeps (an item attribute in DynamoDB)."""
    data: dict[str, Any] = {}
    for name, state in sorted(fields.items()):
        entry: dict[str, Any] = {"pending": state.pending}
        if state.change is not None:
            c = state.change
            entry["change"] = {"value": c.value, "at": _instant(c.at), "tiebreak": c.tiebreak}
        if state.base is not None:
            entry["base"] = _baseline(state.base)
        if state.sent:
            entry["sent"] = [_baseline(s.base) | {"sent_at": _instant(s.at)} for s in state.sent]
        data[name] = entry
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _baseline(base: Baseline) -> dict[str, Any]:
    return {"value": base.value, "at": _instant(base.at), "tiebreak": base.tiebreak, "ours": base.ours}


def _baseline_from(entry: Mapping[str, Any]) -> Baseline:
    return Baseline(entry["value"], datetime.fromisoformat(entry["at"]), entry["tiebreak"], entry["ours"])


def fields_from_json(text: str) -> dict[str, FieldState]:
    fields: dict[str, FieldState] = {}
    for name, entry in json.loads(text).items():
        change = entry.get("change")
        base = entry.get("base")
        fields[name] = FieldState(
            change=FieldStamp(change["value"], datetime.fromisoformat(change["at"]), change["tiebreak"])
            if change
            else None,
            pending=bool(entry.get("pending")),
            base=_baseline_from(base) if base else None,
            sent=tuple(
                Sent(_baseline_from(s), datetime.fromisoformat(s["sent_at"])) for s in entry.get("sent", [])
            ),
        )
    return fields
