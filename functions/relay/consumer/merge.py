"""Field-level last-write-wins merge of the relay's own changes. Pure: the consumer and the tests share it.

Units are grouped by the key their ids compare by (relay.consumer.policy: "1a-07" and "1A-07" are one
unit by default), and each source's newest change to each field is kept: which source wins a field is
the plan's to say (relay.consumer.resolve), with the MDT's rules. Between changes of one source, and in
`MergedUnit.fields`, the newest change wins, "newest" being the order of `FieldStamp.key()`: the
event time first, then the receive time, the delivery id and the change's position in its request
(a later entry of one request wins over an earlier one). The value decides nothing, except between
two different requests with no delivery id received in the same millisecond, where it only makes the
order total. Whatever the order of arrival, duplication or batching, merging the same set of changes
gives the same result (commutative, associative, idempotent).

An event time later than its receive time plus `max_event_skew` is clamped to the receive time: a
sender's clock, or a typo, must not pin a field against every later change.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from json.encoder import encode_basestring_ascii

from relay.messages import RESYNC_SOURCE, QueueMessage
from relay.models import UnitChange, format_instant


class Origin:
    """Where merged changes came from: one per message, so the receive time is formatted once for all
    the tiebreaks of its changes, and only if one of them is needed."""

    __slots__ = ("_prefix", "received_at", "source", "webhook_id")

    def __init__(self, received_at: datetime, webhook_id: str | None, source: str = "") -> None:
        self.received_at = received_at
        self.webhook_id = webhook_id
        self.source = source
        self._prefix: str | None = None

    @property
    def prefix(self) -> str:
        if self._prefix is None:
            self._prefix = f"{format_instant(self.received_at)}|{self.webhook_id or ''}|"
        return self._prefix


def _json_text(value: str | None) -> str:
    """json.dumps(value) for a str or None, without its wrapper (a batch formats thousands)."""
    return "null" if value is None else encode_basestring_ascii(value)


class FieldStamp:
    """A field's value with what decides which value is newest: `key()`, the event time then `tiebreak`.

    A merged change builds its tiebreak text only when it is needed (two changes at the same event
    time, or the winner being recorded): most comparisons are decided by the event time alone.
    """

    __slots__ = ("_origin", "_position", "_source", "_tiebreak", "at", "first", "value")

    def __init__(
        self,
        value: str | None,
        at: datetime,
        tiebreak: str | None = None,
        *,
        origin: Origin | None = None,
        position: int = 0,
        source: str = "",
    ) -> None:
        if tiebreak is None and origin is None:
            raise ValueError("a FieldStamp needs its tiebreak or the origin it is made from")
        self.value = value
        self.at = at
        self._tiebreak = tiebreak
        self._origin = origin
        self._position = position
        self._source = source
        # Where a run of the same value from the same source began in the batch (None: here): a
        # source that reports state and says a value twice in one batch first said it then.
        self.first: FieldStamp | None = None

    @property
    def source(self) -> str:
        """The source that made the change ("" when unknown)."""
        return self._origin.source if self._origin is not None else self._source

    @property
    def tiebreak(self) -> str:
        if self._tiebreak is None:
            origin = self._origin
            if origin is None:  # the constructor demands one of the two
                raise AssertionError("a FieldStamp without tiebreak nor origin")
            self._tiebreak = f"{origin.prefix}{self._position:06d}|{_json_text(self.value)}"
        return self._tiebreak

    def key(self) -> tuple[datetime, str]:
        return (self.at, self.tiebreak)

    def newer_than(self, other: FieldStamp | None) -> bool:
        if other is None:
            return True
        if self.at != other.at:
            return self.at > other.at
        return self.tiebreak > other.tiebreak

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldStamp):
            return NotImplemented
        mine, theirs = (self.value, self.at, self.tiebreak), (other.value, other.at, other.tiebreak)
        return mine == theirs and self.source == other.source

    def __hash__(self) -> int:
        return hash((self.value, self.at, self.tiebreak))

    def __repr__(self) -> str:
        shown = f"value={self.value!r}, at={self.at!r}, tiebreak={self.tiebreak!r}"
        return f"FieldStamp({shown}, source={self.source!r})"


def stamp(
    change: UnitChange,
    value: str | None,
    received_at: datetime,
    webhook_id: str | None,
    position: int = 0,
    source: str = "",
) -> FieldStamp:
    """The stamp of one field of one change (the merge itself shares one Origin per message)."""
    return FieldStamp(value, change.at, origin=Origin(received_at, webhook_id, source), position=position)


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
    """Each source's newest value of each field seen for one unit, the messages that contributed, and
    the id as the newest change spelled it (`unit_id` is the key ids compare by)."""

    unit_id: str
    sources: dict[str, dict[str, FieldStamp]] = field(default_factory=dict)
    message_ids: set[str] = field(default_factory=set)
    spelling: str = ""
    spelled_at: datetime | None = None
    # A resync asked for it (relay.messages.RESYNC_SOURCE): put back whole if the partner no longer lists it.
    reassert: bool = False

    def apply(self, name: str, candidate: FieldStamp) -> bool:
        newest = self.sources.setdefault(candidate.source, {})
        if candidate.newer_than(newest.get(name)):
            newest[name] = candidate
            return True
        return False

    @property
    def fields(self) -> dict[str, FieldStamp]:
        """The newest change of each field, whichever source made it."""
        newest: dict[str, FieldStamp] = {}
        for stamps in self.sources.values():
            for name, candidate in stamps.items():
                if candidate.newer_than(newest.get(name)):
                    newest[name] = candidate
        return newest

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

    def _note_actor(self, message: QueueMessage) -> None:
        """The audit actor of a PUT is the one of the newest message that contributes to it."""
        if message.actor:
            key = (message.received_at, message.webhook_id or "")
            if self.actor_key is None or key > self.actor_key:
                self.actor, self.actor_key = message.actor, key

    def add(
        self,
        message_id: str,
        message: QueueMessage,
        max_event_skew: timedelta | None = None,
        canonical: Callable[[str], str] | None = None,
    ) -> None:
        self._note_actor(message)
        latest = message.received_at + max_event_skew if max_event_skew is not None else None
        source = message.source
        origin = Origin(message.received_at, message.webhook_id, source)
        units = self.units
        for index, change in enumerate(message.changes, start=message.offset):
            at = change.at
            if latest is not None and at > latest:
                clamp = Clamp(source, message.webhook_id, change.id, at, message.received_at)
                self.clamps.append(clamp)
                at = message.received_at
            unit_key = canonical(change.id) if canonical is not None else change.id
            unit = units.get(unit_key)
            if unit is None:
                unit = units[unit_key] = MergedUnit(unit_key, spelling=change.id, spelled_at=at)
            elif unit.spelled_at is None or at > unit.spelled_at:
                unit.spelling, unit.spelled_at = change.id, at
            unit.message_ids.add(message_id)
            if source == RESYNC_SOURCE:
                unit.reassert = True
                continue  # it changes no field: what the relay knows of the unit is its state's
            newest = unit.sources.get(source)
            if newest is None:
                newest = unit.sources[source] = {}
            for name, value in change.fields.items():
                # MergedUnit.apply, inlined: a batch merges tens of thousands of fields.
                current = newest.get(name)
                if current is None or at > current.at:
                    stamp = newest[name] = FieldStamp(value, at, origin=origin, position=index)
                    if current is not None and current.value == value:
                        stamp.first = current.first or current
                elif at == current.at:
                    unit.apply(name, FieldStamp(value, at, origin=origin, position=index))
                elif current.value == value and at < (current.first or current).at:
                    current.first = FieldStamp(value, at, origin=origin, position=index)


def merge_messages(
    messages: Iterable[tuple[str, QueueMessage]],
    max_event_skew: timedelta | None = None,
    canonical: Callable[[str, str], str] | None = None,
) -> dict[GroupKey, MdtBatch]:
    """Group (message id, message) pairs by MDT and guild, merging changes per unit, source and field.
    `canonical(mdt_id, unit_id)` is the key ids compare by (the id itself when not given)."""
    groups: dict[GroupKey, MdtBatch] = {}
    keys: dict[str, Callable[[str], str]] = {}
    for message_id, message in messages:
        key = (message.mdt_id, message.guild_id)
        group = groups.setdefault(key, MdtBatch(message.mdt_id, message.guild_id))
        unit_key = None
        if canonical is not None:
            unit_key = keys.get(message.mdt_id)
            if unit_key is None:
                unit_key = keys[message.mdt_id] = functools.partial(canonical, message.mdt_id)
        group.add(message_id, message, max_event_skew, unit_key)
    return groups
