"""Replay and resync cannot regress a field or revert another writer: proved by Hypothesis.

A world of two units and two fields: a CAD sends changes (event times a few seconds before their
receipt; some are lost on the way, never reaching the queue), a dispatcher edits fields in Northca's
UI, the consumer (the real `process_batch` on in-memory ports) runs now and then. Every change is
archived as the ingress archives it: its queue message. Then:

- `relay replay` re-queues a window of the archive, in any order and batching. No field ever goes back
  to an older change of the relay's, nor from a dispatcher's edit to a change older than that edit;
  with nothing lost, nothing changes at all; replaying the whole archive converges to the newest of the
  relay's changes and the dispatcher's edits (an edit dated by the unit's last edit, docs/consumer.md).
- `relay resync` after Northca lost some units (or the whole MDT) and the dispatcher recreated some of
  them: every unit the relay knows is listed again; one that was lost is back with every value the
  relay knew; one the partner still lists, the dispatcher's recreations included, is left exactly as
  it is (but for a blank the relay itself sent, which it fills again: the late-write rule's price).
- The dry run (relay.consumer.preview) says beforehand exactly what each of them then writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.consumer.invocation import ConsumerDeps
from relay.consumer.pipeline import process_batch
from relay.consumer.policy import UnitPolicy
from relay.consumer.preview import PreviewRow, preview, resync_messages
from relay.consumer.unit_state import InMemoryUnitStateStore, UnitKey
from relay.messages import QueueMessage
from relay.models import UnitChange
from tests.support.clocks import FixedClock
from tests.support.constants import GUILD, MDT, NOW
from tests.support.consumer import MemoryPartner, record

UNITS = ("A-1", "B-2")
FIELDS = ("status", "officer_name")
WINDOW = timedelta(seconds=300)
SKEW = timedelta(seconds=300)


@dataclass(frozen=True)
class Said:
    """A value and what dates it: a relay change (`at`, receipt) or a dispatcher's edit (its time)."""

    unit: str
    name: str
    value: str
    at: datetime
    received: datetime
    relay: bool


@dataclass
class World:
    clock: FixedClock = field(default_factory=lambda: FixedClock(NOW))
    partner: MemoryPartner = field(init=False)
    state: InMemoryUnitStateStore = field(default_factory=InMemoryUnitStateStore)
    pending: list[QueueMessage] = field(default_factory=list)
    archive: list[QueueMessage] = field(default_factory=list)
    said: dict[str, Said] = field(default_factory=dict)  # value -> what said it (values are unique)
    lost: int = 0

    def __post_init__(self) -> None:
        self.partner = MemoryPartner(self.clock)

    def tick(self) -> datetime:
        self.clock.advance(1)
        return self.clock()

    def webhook(self, unit: str, name: str, age: int, lost: bool) -> None:
        now = self.tick()
        value = f"r{len(self.said)}"
        at = now - timedelta(seconds=age)
        message = QueueMessage(
            source="cad",
            mdt_id=MDT,
            guild_id=GUILD,
            webhook_id=f"w{len(self.archive)}",
            received_at=now,
            changes=[UnitChange(id=unit, at=at, fields={name: value})],
        )
        self.said[value] = Said(unit, name, value, at, now, relay=True)
        self.archive.append(message)  # the ingress keeps what it queued
        if lost:
            self.lost += 1  # lost after the archive: a purged queue, a message past the DLQ's retention
        else:
            self.pending.append(message)

    def edit(self, unit: str, name: str) -> None:
        now = self.tick()
        value = f"d{len(self.said)}"
        self.said[value] = Said(unit, name, value, now, now, relay=False)
        self.partner.edit(unit, **{name: value})

    def consume(self, messages: list[QueueMessage] | None = None) -> None:
        batch = self.pending if messages is None else messages
        if messages is None:
            self.pending = []
        if not batch:
            return
        self.tick()
        records = [record(f"m{i}", m) for i, m in enumerate(batch)]
        outcome = process_batch(records, self.deps())
        assert not outcome.failed_message_ids and not outcome.dead_lettered

    def deps(self) -> ConsumerDeps:
        return ConsumerDeps(writer=self.partner, state=self.state, clock=self.clock, sleep=lambda _: None)

    def held(self) -> dict[str, dict[str, str]]:
        return {unit: self.partner.unit(unit) for (mdt, unit) in self.partner.units if mdt == MDT}

    def dry_run(self, messages: list[QueueMessage]) -> list[PreviewRow]:
        keys = [UnitKey(MDT, GUILD, unit) for unit in UNITS]
        lists = {(MDT, GUILD): self.partner.list_units(MDT, GUILD)}
        self.partner.lists.pop()
        return preview(
            messages,
            self.state.read_many(keys),
            lists,
            policy=UnitPolicy(),
            window=WINDOW,
            skew=SKEW,
            now=self.clock() + timedelta(seconds=1),  # the instant consume() will plan at
        )

    def written_by(self, puts_before: int) -> dict[str, dict[str, str]]:
        """What the PUTs since `puts_before` changed, by unit, as the dry run states it."""
        written: dict[str, dict[str, str]] = {}
        for unit in self.partner.puts()[puts_before:]:
            written.setdefault(unit["id"], {}).update({n: v for n, v in unit.items() if n in FIELDS})
        return written


STEP = st.one_of(
    st.tuples(
        st.just("webhook"), st.sampled_from(UNITS), st.sampled_from(FIELDS), st.integers(0, 5), st.booleans()
    ),
    st.tuples(st.just("edit"), st.sampled_from(UNITS), st.sampled_from(FIELDS)),
    st.tuples(st.just("consume")),
)


def play(world: World, steps: list[tuple[Any, ...]], *, lose: bool) -> None:
    for step in steps:
        if step[0] == "webhook":
            world.webhook(step[1], step[2], step[3], lost=lose and step[4])
        elif step[0] == "edit":
            world.edit(step[1], step[2])
        else:
            world.consume()
    world.consume()


def change_key(said: Said) -> tuple[datetime, datetime]:
    return (said.at, said.received)


def predicted(rows: list[PreviewRow]) -> dict[str, dict[str, str]]:
    return {row.unit_id: {n: new for n, (_, new) in row.changes.items()} for row in rows if row.changes}


def check_dry_run(
    rows: list[PreviewRow], world: World, puts_before: int, before: dict[str, dict[str, str]]
) -> None:
    written = world.written_by(puts_before)
    actual = {
        unit: {n: v for n, v in fields.items() if v != before.get(unit, {}).get(n, "")}
        for unit, fields in written.items()
    }
    assert predicted(rows) == {unit: fields for unit, fields in actual.items() if fields}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(STEP, min_size=1, max_size=25),
    lose=st.booleans(),
    window=st.tuples(st.integers(0, 30), st.integers(0, 30)),
    order=st.randoms(use_true_random=False),
    batches=st.integers(1, 3),
)
def test_property_a_replay_never_regresses_a_field_nor_reverts_another_writer(
    steps: list[tuple[Any, ...]], lose: bool, window: tuple[int, int], order: Any, batches: int
) -> None:
    # Given a history, drained, some of its changes lost before the queue
    world = World()
    play(world, steps, lose=lose)
    before = world.held()
    # When a window of the archive is replayed, in any order and batching
    low, high = sorted(window)
    replayed = world.archive[low:high]
    order.shuffle(replayed)
    for index in range(batches):
        batch = replayed[index::batches]
        rows = world.dry_run(batch)
        puts, held = len(world.partner.puts()), world.held()
        world.consume(batch)
        # (the dry run said exactly what this batch then wrote)
        check_dry_run(rows, world, puts, held)
    after = world.held()
    # Then no field went back: a changed field holds a relay change newer than what it held
    check_no_regression(world, before, after)
    # With nothing lost, a replay changes nothing at all
    if world.lost == 0:
        assert after == before
    # The whole archive replayed: each field is the newest relay change, or a dispatcher edit that the
    # partner dated no earlier than it (the unit's one updated_at: docs/consumer.md)
    if low == 0 and high >= len(world.archive):
        check_converged(world, after)


def check_no_regression(
    world: World, before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]
) -> None:
    for unit, fields in after.items():
        for name in FIELDS:
            old, new = before.get(unit, {}).get(name, ""), fields[name]
            if new == old:
                continue
            now_said = world.said[new]
            assert now_said.relay, f"{unit}.{name}: a dispatcher value appeared during a replay"
            was = world.said.get(old)
            if was is not None and was.relay:
                assert change_key(now_said) > change_key(was), f"{unit}.{name}: {old} -> {new} regressed"
            elif was is not None:
                assert now_said.at > was.at, f"{unit}.{name}: the dispatcher's {old} reverted by {new}"


def check_converged(world: World, after: dict[str, dict[str, str]]) -> None:
    for unit, fields in after.items():
        for name in FIELDS:
            ours = [s for s in world.said.values() if s.relay and (s.unit, s.name) == (unit, name)]
            if not ours or fields[name] == max(ours, key=change_key).value:
                continue
            newest, said = max(ours, key=change_key), world.said.get(fields[name])
            edits = [s for s in world.said.values() if not s.relay and (s.unit, s.name) == (unit, name)]
            unit_edits = [s for s in world.said.values() if not s.relay and s.unit == unit]
            assert said is not None and not said.relay, (
                f"{unit}.{name}: {fields[name]}, newest {newest.value}"
            )
            assert said == max(edits, key=lambda s: s.at), f"{unit}.{name}: an overwritten edit came back"
            assert any(e.at >= newest.at for e in unit_edits), f"{unit}.{name}: {newest.value} lost"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(STEP, min_size=1, max_size=25),
    wiped=st.sets(st.sampled_from(UNITS)),
    recreated=st.lists(st.tuples(st.sampled_from(UNITS), st.sampled_from(FIELDS)), max_size=3),
    source=st.sampled_from([None, "cad", "forms"]),
)
def test_property_a_resync_puts_back_what_was_lost_and_leaves_every_listed_unit_alone(
    steps: list[tuple[Any, ...]], wiped: set[str], recreated: list[tuple[str, str]], source: str | None
) -> None:
    # Given a history, drained
    world = World()
    play(world, steps, lose=False)
    # When Northca loses some units (all of them: a wiped MDT), a dispatcher recreates some by hand
    for unit in wiped:
        world.partner.units.pop((MDT, unit), None)
    for unit, name in recreated:
        world.edit(unit, name)
    before = world.held()
    states = world.state.read_many([UnitKey(MDT, GUILD, unit) for unit in UNITS])
    # and `relay resync --mdt M [--source S]` runs
    messages = resync_messages(list(states.values()), world.clock(), source=source)
    rows = world.dry_run(messages)
    puts = len(world.partner.puts())
    world.consume(messages)
    after = world.held()
    check_dry_run(rows, world, puts, before)
    for unit in UNITS:
        state = states[UnitKey(MDT, GUILD, unit)]
        knows = {
            n: f.base.value for n, f in state.fields.items() if f.base is not None and not f.base.is_blank
        }
        asked = source in (None, "cad")  # the only source that spoke is cad
        if unit in before:
            # Then a unit the partner lists keeps every value it holds (the dispatcher's recreation too),
            # but a blank the relay itself sent there, which it recognises as its own and fills again
            # with its newest value (docs/consumer.md, the price of the late-write rule)
            for name in FIELDS:
                if after[unit][name] != before[unit][name]:
                    sent = [s.value for s in state.field(name).sent]
                    assert before[unit][name] == "" and "" in sent, (unit, name)
                    assert after[unit][name] == knows[name], (unit, name)
        elif knows and asked:
            # a unit it lost is back with every value the relay knew, and nothing else
            assert after[unit] == {n: knows.get(n, "") for n in after[unit]}, unit
        else:
            assert unit not in after, unit
