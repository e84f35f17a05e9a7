"""Field-level last-write-wins merge. Pure: the consumer and the tests share exactly this code.

For every unit and every field, the value of the newest change wins, where "newest" is the order of
`FieldStamp.key()`: the event time first, then a deterministic tie-break made of the receive time,
the delivery id and the value itself. Whatever the order of arrival, duplication or batching, merging
the same set of changes gives the same result (the merge is commutative, associative and idempotent).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from relay.messages import QueueMessage
from relay.models import UnitChange, format_instant, unit_record


@dataclass(frozen=True, order=False)
class FieldStamp:
    """A field's value with what decides which value is newest."""

    value: str | None
    at: datetime
    tiebreak: str

    def key(self) -> tuple[datetime, str]:
        return (self.at, self.tiebreak)

    def newer_than(self, other: FieldStamp | None) -> bool:
        return other is None or self.key() > other.key()


def stamp(change: UnitChange, value: str | None, received_at: datetime, webhook_id: str | None) -> FieldStamp:
    tiebreak = "|".join((format_instant(received_at), webhook_id or "", json.dumps(value)))
    return FieldStamp(value=value, at=change.at, tiebreak=tiebreak)


@dataclass
class MergedUnit:
    """The newest value of each field seen for one unit, and the messages that contributed."""

    unit_id: str
    fields: dict[str, FieldStamp] = field(default_factory=dict)
    message_ids: set[str] = field(default_factory=set)

    def apply(self, name: str, candidate: FieldStamp) -> bool:
        if candidate.newer_than(self.fields.get(name)):
            self.fields[name] = candidate
            return True
        return False

    def record(self) -> dict[str, Any]:
        return unit_record(self.unit_id, {name: s.value for name, s in self.fields.items()})


def merged_fields(
    stored: Mapping[str, FieldStamp], incoming: Mapping[str, FieldStamp]
) -> dict[str, FieldStamp] | None:
    """`stored` with every newer stamp of `incoming` applied, or None when none of them is newer."""
    result = dict(stored)
    changed = False
    for name, candidate in incoming.items():
        if candidate.newer_than(result.get(name)):
            result[name] = candidate
            changed = True
    return result if changed else None


GroupKey = tuple[str, str]  # (mdt_id, guild_id)


@dataclass
class MdtBatch:
    """Everything one invocation will write to one MDT in one guild."""

    mdt_id: str
    guild_id: str
    units: dict[str, MergedUnit] = field(default_factory=dict)
    actor: str | None = None
    actor_key: tuple[datetime, str] | None = None

    def add(self, message_id: str, message: QueueMessage) -> None:
        # The audit actor of a PUT is the one of the newest message that contributes to it.
        key = (message.received_at, message.webhook_id or "")
        if message.actor and (self.actor_key is None or key > self.actor_key):
            self.actor, self.actor_key = message.actor, key
        for change in message.changes:
            unit = self.units.setdefault(change.id, MergedUnit(change.id))
            unit.message_ids.add(message_id)
            for name, value in change.fields.items():
                unit.apply(name, stamp(change, value, message.received_at, message.webhook_id))


def merge_messages(messages: Iterable[tuple[str, QueueMessage]]) -> dict[GroupKey, MdtBatch]:
    """Group (message id, message) pairs by MDT and guild, merging changes per unit and field."""
    groups: dict[GroupKey, MdtBatch] = {}
    for message_id, message in messages:
        key = (message.mdt_id, message.guild_id)
        group = groups.setdefault(key, MdtBatch(message.mdt_id, message.guild_id))
        group.add(message_id, message)
    return groups
