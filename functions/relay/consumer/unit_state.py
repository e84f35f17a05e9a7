"""Unit state: what the relay knows about each unit, field by field, to deliver changes and not snapshots.

One item per unit in the state table (`pk = unit#<mdt_id>#<guild_id>`, `sk = <unit id>`), written only
with a condition on the `version` the writer read, so two consumers never overwrite each other. For
each writable field:

- `heard`: what each source last said of the field (value, when it first said it, when it last said
  it): a source that reports state and says a value again has not changed it, and one source's
  off-duty status does not send a unit off duty while another still has it on duty (policy.py);
- `sent`: the values the relay's PUTs carried recently, each with the baseline it stood for and when
  it was sent, so that a PUT of its own seen again (landing late, or written while the answer was
  lost) is recognised as such and not taken for another writer's edit.

The port is `UnitStateStore` below, with its types (DynamoDB in relay.aws.unit_state; memory:
`InMemoryUnitStateStore`); the protocol on top of it is relay.consumer.plan and docs/consumer.md.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from relay.consumer.merge import FieldStamp
from relay.errors import UnitStateUnavailableError
from relay.models import UNIT_PREFIX

# Another writer's value wins a tie with a relay change of the same instant ("later than" is strict).
OTHER_WRITER = "\uffff"
# A blank the relay caused (a field a create left out): any change is newer.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Recently sent values kept per field, newest last.
MAX_SENT = 6


# The value types are named tuples: a batch makes tens of thousands of them, and a tuple is built,
# hashed and compared in C (a frozen dataclass is several times slower at each).


class UnitKey(NamedTuple):
    mdt_id: str
    guild_id: str
    unit_id: str

    @property
    def pk(self) -> str:
        return f"{UNIT_PREFIX}{self.mdt_id}#{self.guild_id}"

    @property
    def sk(self) -> str:
        return self.unit_id


class Baseline(NamedTuple):
    """A field's value at the partner as the relay knows it, the instant that makes it so, and (for the
    relay's own) the source whose change it is ("" when unknown: state written before sources were kept)."""

    value: str
    at: datetime
    tiebreak: str
    ours: bool
    source: str = ""

    def key(self) -> tuple[datetime, str]:
        return (self.at, self.tiebreak)

    @classmethod
    def written(cls, change: FieldStamp) -> Baseline:
        return cls(change.value or "", change.at, change.tiebreak, True, change.source)

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


class Sent(NamedTuple):
    """A value a PUT of the relay's carried, what it stood for, and when it was sent."""

    base: Baseline
    at: datetime

    @property
    def value(self) -> str:
        return self.base.value


class Heard(NamedTuple):
    """What one source last said of a field: the value, the change that first said it (`at`,
    `tiebreak`), and the last time it said it again."""

    source: str
    value: str | None
    at: datetime
    tiebreak: str
    last_at: datetime


# Sources remembered per field, the most recently heard kept.
MAX_HEARD = 4


class FieldState(NamedTuple):
    base: Baseline | None = None
    sent: tuple[Sent, ...] = ()
    heard: tuple[Heard, ...] = ()

    def with_sent(self, base: Baseline, at: datetime) -> FieldState:
        kept = tuple(s for s in self.sent if s.base != base)
        return FieldState(self.base, (*kept, Sent(base, at))[-MAX_SENT:], self.heard)

    def based_on(self, base: Baseline) -> FieldState:
        return FieldState(base, self.sent, self.heard)

    def heard_from(self, source: str) -> Heard | None:
        return next((h for h in self.heard if h.source == source), None)


NO_STATE = FieldState()
BLANK = Baseline.blank()


@dataclass(frozen=True)
class UnitState:
    """What the store holds for one unit; `version` 0 means there is no item yet."""

    key: UnitKey
    fields: Mapping[str, FieldState] = field(default_factory=dict)
    version: int = 0

    def field(self, name: str) -> FieldState:
        return self.fields.get(name, NO_STATE)


# ------------------------------------------------------------------------------ many writes at once


class StateWrite(NamedTuple):
    """One conditional write of a unit's fields (UnitStateStore.write)."""

    key: UnitKey
    fields: Mapping[str, FieldState]
    expected_version: int


@dataclass
class StateWrites:
    """What became of many conditional writes: each unit's new version, the races another consumer
    won, and the writes not made, with why (the store unavailable, or no time left to start it)."""

    versions: dict[UnitKey, int] = field(default_factory=dict)
    conflicts: set[UnitKey] = field(default_factory=set)
    failed: dict[UnitKey, str] = field(default_factory=dict)


OUT_OF_TIME = "not started: too little time left in the invocation"


def write_each(
    write: Callable[[UnitKey, Mapping[str, FieldState], int], int | None],
    writes: Sequence[StateWrite],
    can_start: Callable[[], bool],
    run: Callable[
        [Callable[[StateWrite], tuple[UnitKey, int | str | None]], Sequence[StateWrite]],
        Iterable[tuple[UnitKey, int | str | None]],
    ] = map,
) -> StateWrites:
    """Make each write with `write` (a store's conditional write), through `run` (map, or a thread
    pool's): a write is only started while `can_start()` says there is time for it."""

    def one(item: StateWrite) -> tuple[UnitKey, int | str | None]:
        if not can_start():
            return item.key, OUT_OF_TIME
        try:
            return item.key, write(item.key, item.fields, item.expected_version)
        except UnitStateUnavailableError as exc:
            return item.key, str(exc)

    results = StateWrites()
    for key, answer in run(one, writes):
        if answer is None:
            results.conflicts.add(key)
        elif isinstance(answer, str):
            results.failed[key] = answer
        else:
            results.versions[key] = answer
    return results


# ------------------------------------------------------------------------------ the port, and its twin


class UnitStateStore(Protocol):
    """The consumer's unit state, with conditional writes (docs/consumer.md)."""

    def read_many(self, keys: Sequence[UnitKey]) -> dict[UnitKey, UnitState]:
        """Strongly consistent reads; a unit without an item comes back as version 0."""
        ...

    def write(self, key: UnitKey, fields: Mapping[str, FieldState], expected_version: int) -> int | None:
        """Replace the unit's fields if the item is still at `expected_version` (0: no item yet): the
        new version, or None when another writer got there first."""
        ...

    def write_many(self, writes: Sequence[StateWrite], can_start: Callable[[], bool]) -> StateWrites:
        """Each write (one per unit) as `write` makes it, concurrently where the store can, each started
        only while `can_start()`; never raises: what failed is in the answer with why."""
        ...


class InMemoryUnitStateStore:
    """UnitStateStore in a dict (atomic under a lock): for tests, the bench and tools. The contract tests
    (tests/unit/relay/ports/test_state.py) run the same cases over it and the DynamoDB store."""

    def __init__(self) -> None:
        self.items: dict[UnitKey, UnitState] = {}
        self._lock = threading.Lock()

    def read_many(self, keys: Sequence[UnitKey]) -> dict[UnitKey, UnitState]:
        with self._lock:
            return {key: self.items.get(key, UnitState(key)) for key in keys}

    def write(self, key: UnitKey, fields: Mapping[str, FieldState], expected_version: int) -> int | None:
        with self._lock:
            current = self.items.get(key, UnitState(key))
            if current.version != expected_version:
                return None
            self.items[key] = UnitState(key, dict(fields), current.version + 1)
            return current.version + 1

    def write_many(self, writes: Sequence[StateWrite], can_start: Callable[[], bool]) -> StateWrites:
        return write_each(self.write, writes, can_start)


# ------------------------------------------------------------------------------ the stored form


def _instant(value: datetime) -> str:
    return value.isoformat()


def fields_to_json(fields: Mapping[str, FieldState]) -> str:
    """The fields as the one JSON document the store keeps (an item attribute in DynamoDB)."""
    data: dict[str, Any] = {}
    for name, state in sorted(fields.items()):
        entry: dict[str, Any] = {}
        if state.base is not None:
            entry["base"] = _baseline(state.base)
        if state.sent:
            entry["sent"] = [_baseline(s.base) | {"sent_at": _instant(s.at)} for s in state.sent]
        if state.heard:
            entry["heard"] = [
                {
                    "source": h.source,
                    "value": h.value,
                    "at": _instant(h.at),
                    "tiebreak": h.tiebreak,
                    "last_at": _instant(h.last_at),
                }
                for h in state.heard
            ]
        data[name] = entry
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _baseline(base: Baseline) -> dict[str, Any]:
    entry = {"value": base.value, "at": _instant(base.at), "tiebreak": base.tiebreak, "ours": base.ours}
    return entry | {"source": base.source} if base.source else entry


def _baseline_from(entry: Mapping[str, Any]) -> Baseline:
    return Baseline(
        entry["value"],
        datetime.fromisoformat(entry["at"]),
        entry["tiebreak"],
        entry["ours"],
        entry.get("source", ""),
    )


def fields_from_json(text: str) -> dict[str, FieldState]:
    """The stored fields (an item written before `heard` and `source` were kept reads without them)."""
    fields: dict[str, FieldState] = {}
    for name, entry in json.loads(text).items():
        base = entry.get("base")
        fields[name] = FieldState(
            base=_baseline_from(base) if base else None,
            sent=tuple(
                Sent(_baseline_from(s), datetime.fromisoformat(s["sent_at"])) for s in entry.get("sent", [])
            ),
            heard=tuple(
                Heard(
                    h["source"],
                    h["value"],
                    datetime.fromisoformat(h["at"]),
                    h["tiebreak"],
                    datetime.fromisoformat(h["last_at"]),
                )
                for h in entry.get("heard", [])
            ),
        )
    return fields
