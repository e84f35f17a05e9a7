"""Field-level last-write-wins merge of the relay's own changes. Pure: the consumer and the tests share it.

For every unit and field the newest change wins, "newest" being the order of `FieldStamp.key()`: the
event time first, then the receive time, the delivery id and the change's position in its request
(a later entry of one request wins over an earlier one). The value decides nothing, except between
two different requests with no delivery id received in the same millisecond, where it only makes the
order total. Whatever the order of arrival, duplication or batching, merging the same set of changes
gives the same result (commutative, associative, idempotent).

An event time later than its receive time plus `max_event_skew` is clamped to the receive time: a
sender's clock, or a typo, must not pin a field against every later change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from relay.messages import QueueMessage
from relay.models import UnitChange, format_instant


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


def stamp(
    change: UnitChange, value: str | None, received_at: datetime, webhook_id: str | None, position: int = 0
) -> FieldStamp:
    tiebreak = "|".join((format_instant(received_at), webhook_id or "", f"{position:06d}", json.dumps(value)))
    return FieldStamp(value=value, at=change.at, tiebreak=tiebreak)


@dataclass(frozen=True)
class Clamp:
    """A change whose event time was later than its receive time plus the allowed skew."""

    source: str
    webhook_id: str | None
    unit_id: str
    at: datetime
    received_at: datetime


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

    def values(self) -> dict[str, str | None]:
        """The newest value of each field a change set (None: cleared)."""
        return {name: stamp.value for name, stamp in self.fields.items()}


GroupKey = tuple[str, str]  # (mdt_id, guild_id)


@dataclass
class MdtBatch:
    """Everything one invocation will write to one MDT in one guild."""

    mdt_id: str
    guild_id: str
    units: dict[str, MergedUnit] = field(default_factory=dict)
    actor: str | None = None
    actor_key: tuple[datetime, str] | None = None
    clamps: list[Clamp] = field(default_factory=list)

    def add(self, message_id: str, message: QueueMessage, max_event_skew: timedelta | None = None) -> None:
        # The audit actor of a PUT is the one of the newest message that contributes to it.
        key = (message.received_at, message.webhook_id or "")
        if message.actor and (self.actor_key is None or key > self.actor_key):
            self.actor, self.actor_key = message.actor, key
        latest = message.received_at + max_event_skew if max_event_skew is not None else None
        for index, change in enumerate(message.changes, start=message.offset):
            if latest is not None and change.at > latest:
                self.clamps.append(
                    Clamp(message.source, message.webhook_id, change.id, change.at, message.received_at)
                )
                change = change.model_copy(update={"at": message.received_at})
            unit = self.units.setdefault(change.id, MergedUnit(change.id))
            unit.message_ids.add(message_id)
            for name, value in change.fields.items():
                unit.apply(name, stamp(change, value, message.received_at, message.webhook_id, index))


def merge_messages(
    messages: Iterable[tuple[str, QueueMessage]], max_event_skew: timedelta | None = None
) -> dict[GroupKey, MdtBatch]:
    """Group (message id, message) pairs by MDT and guild, merging changes per unit and field."""
    groups: dict[GroupKey, MdtBatch] = {}
    for message_id, message in messages:
        key = (message.mdt_id, message.guild_id)
        group = groups.setdefault(key, MdtBatch(message.mdt_id, message.guild_id))
        group.add(message_id, message, max_event_skew)
    return groups
