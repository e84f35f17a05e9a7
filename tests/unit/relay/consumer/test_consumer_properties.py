"""Convergence with other writers, proved by Hypothesis: two interleaved consumers, a dispatcher editing
the MDT, duplicates, any order, faults, late-landing PUTs, crashes at every step, and redrives.

The consumers are the real `process_batch` running in threads, but only one runs at a time: every call
to the state store or the partner is a step, and Hypothesis chooses who takes the next one
(`Interleaver`), whether it crashes there (the whole batch comes back, as when Lambda dies), and what
the world does between steps: the sources produce a webhook (event time at or before "now"), a
dispatcher edits a field in the MDT, a PUT held back earlier lands late, the DLQ is redriven. A PUT
may fail (500, timeout), be applied and then time out, or be held and land later (the consumer then
gives its messages back to be looked at again once the late-write window has passed, which the world
honours: a delayed message is invisible until then). Once everything is drained, every field at the
partner must be the newest of the relay's changes and the dispatcher's
edits, and nothing may have been sent as null or twice in one request.

"Newest" for a dispatcher's edit: the partner keeps one `updated_at` per unit, so an edit is dated,
at the latest, by the unit's last other-writer edit before the relay next wrote the unit. A relay
change dated between the edit and that instant may win or lose (the test accepts both); any other
outcome is a failure. The dispatcher does not edit while a consumer is between its read of the
partner and its PUT, nor while a PUT is held: that is the residual window docs/consumer.md states.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from relay.config.schema import ConsumerConfig
from relay.consumer.invocation import ConsumerDeps
from relay.consumer.merge import FieldStamp, stamp
from relay.consumer.pipeline import process_batch
from relay.consumer.unit_state import (
    FieldState,
    InMemoryUnitStateStore,
    StateWrite,
    StateWrites,
    UnitKey,
    UnitState,
    write_each,
)
from relay.errors import NorthcaError, NorthcaServerError, NorthcaTimeoutError
from relay.messages import QueueMessage
from relay.models import UNIT_FIELDS, UnitChange, format_instant
from relay.northca.wire import record_json
from relay.ports.partner import PartnerUnit, UnitRecord, UpsertAnswer
from tests.support.clocks import FixedClock
from tests.support.constants import GUILD, MDT, NOW
from tests.support.consumer import MemoryPartner

UNITS = ("A", "B", "C")
VALUES = st.one_of(st.none(), st.sampled_from(["10-8", "10-7", "10-6", "Patrol", "PO", ""]))
MAX_RECEIVES = 4
LOG: list[str] = []  # what happened, for the statistics Hypothesis prints
# A held PUT lands within this many steps (one second each): well inside the late-write window.
MAX_HOLD_STEPS = 60
PUT_FAULTS = ["ok", "500", "timeout", "applied-then-timeout", "late"]


class ConsumerCrashError(BaseException):
    """Lambda killing the invocation: not an Exception, so nothing in the consumer can catch it."""


class Interleaver:
    """Lets exactly one worker thread run between two steps; `choose` picks who takes the next step."""

    def __init__(self, choose: Callable[[list[str]], tuple[str, bool]]) -> None:
        self.choose = choose
        self.cond = threading.Condition()
        self.waiting: set[str] = set()
        self.finished: set[str] = set()
        self.turn: str | None = None
        self.crash: str | None = None
        self.names: set[str] = set()

    def step(self, crashable: bool = True) -> None:
        """Called by a worker before each store or partner call: wait for its turn (or its crash)."""
        me = threading.current_thread().name
        with self.cond:
            self.waiting.add(me)
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.turn == me)
            self.turn = None
            self.waiting.discard(me)
            if self.crash == me:
                self.crash = None
                if crashable:
                    raise ConsumerCrashError

    def run(self, workers: Mapping[str, Callable[[], None]]) -> None:
        self.names = set(workers)
        errors: list[BaseException] = []

        def body(name: str, work: Callable[[], None]) -> None:
            try:
                self.step(crashable=False)
                work()
            except BaseException as exc:  # noqa: BLE001 - reported to the test below
                errors.append(exc)
            finally:
                with self.cond:
                    self.finished.add(name)
                    self.cond.notify_all()

        threads = [
            threading.Thread(target=body, args=(n, w), name=n, daemon=True) for n, w in workers.items()
        ]
        for thread in threads:
            thread.start()
        with self.cond:
            while True:
                ready = lambda: self.turn is None and self.waiting | self.finished == self.names  # noqa: E731
                assert self.cond.wait_for(ready, timeout=10), "a worker is stuck outside a step"
                if not self.waiting:
                    break
                self.turn, crash = self.choose(sorted(self.waiting))
                self.crash = self.turn if crash else None
                self.cond.notify_all()
        for thread in threads:
            thread.join(timeout=10)
        assert not errors, errors


@dataclass
class Delivery:
    message_id: str
    body: str
    receive_count: int = 1
    visible_at: int = 0  # the world's step from which a receive can see it


@dataclass
class Edit:
    unit: str
    name: str
    value: str
    at: datetime


@dataclass
class World:
    """Everything outside the consumers: sources, queue, DLQ, the partner, a dispatcher, the clock."""

    clock: FixedClock = field(default_factory=lambda: FixedClock(NOW + timedelta(seconds=60)))
    queue: list[Delivery] = field(default_factory=list)
    dlq: list[Delivery] = field(default_factory=list)
    produced: list[QueueMessage] = field(default_factory=list)
    to_produce: list[list[tuple[str, int, dict[str, str | None]]]] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)
    landings: dict[str, list[datetime]] = field(default_factory=dict)  # unit -> relay PUTs applied
    held: list[tuple[int, str, list[dict[str, Any]]]] = field(default_factory=list)
    open: set[str] = field(default_factory=set)  # consumers between a read of the partner and batch end
    delays: dict[str, int] = field(default_factory=dict)  # message id -> seconds asked by the consumer
    steps: int = 0
    redrives: int = 0
    rechecks: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.partner = MemoryPartner(self.clock)

    # the world's own moves (on the test's thread, between steps)

    def produce(self) -> None:
        changes = self.to_produce.pop(0)
        index = len(self.produced)
        now = self.clock()
        message = QueueMessage(
            source="cad",
            mdt_id=MDT,
            guild_id=GUILD,
            webhook_id=f"w{index}",
            received_at=now,
            changes=[UnitChange(id=u, at=now - timedelta(seconds=lag), fields=f) for u, lag, f in changes],
        )
        self.produced.append(message)
        self.queue.append(Delivery(f"m{index}", message.body()))

    def can_edit(self) -> bool:
        return not self.open and not self.held

    def edit(self, unit: str, name: str) -> None:
        value = f"D{len(self.edits)}"  # the dispatcher's values are its own: never taken for the relay's
        self.partner.edit(unit, **{name: value})
        self.edits.append(Edit(unit, name, value, self.clock()))

    def land(self, index: int) -> None:
        _, mdt, units = self.held.pop(index)
        for unit in units:
            self.partner.apply(mdt, unit)
            self.landings.setdefault(unit["id"], []).append(self.clock())

    def redrive(self) -> None:
        self.redrives += 1
        self.queue += [Delivery(f"{d.message_id}-r{self.redrives}", d.body) for d in self.dlq]
        self.dlq = []

    # the queue, as the consumers see it

    def visible(self) -> list[Delivery]:
        return [d for d in self.queue if d.visible_at <= self.steps]

    def take(self, size: int) -> list[Delivery]:
        with self.lock:
            batch = self.visible()[:size]
            self.queue = [d for d in self.queue if d not in batch]
            return batch

    def give_back(self, deliveries: Sequence[Delivery]) -> None:
        with self.lock:
            for d in deliveries:
                delay = self.delays.pop(d.message_id, 0)
                again = Delivery(d.message_id, d.body, d.receive_count + 1, self.steps + delay)
                (self.dlq if again.receive_count > MAX_RECEIVES else self.queue).append(again)

    def wait_until_visible(self) -> None:
        """Nothing visible yet: let time pass until the first delayed message is."""
        until = min(d.visible_at for d in self.queue)
        self.clock.advance(until - self.steps)
        self.steps = until

    def drained(self) -> bool:
        return not (self.queue or self.dlq or self.held or self.to_produce)


class ModelVisibility:
    """The consumer's visibility delays, in the world's steps (one second each)."""

    def __init__(self, world: World) -> None:
        self.world = world

    def delay(self, receipt_handles: Sequence[str], seconds: int) -> None:
        for handle in receipt_handles:
            self.world.delays[handle.removeprefix("rh-")] = seconds


class ModelRechecks:
    """The consumer's own queue for delayed rechecks, in the world's steps."""

    def __init__(self, world: World) -> None:
        self.world = world

    def send(self, messages: Sequence[QueueMessage], delay_seconds: int = 0) -> int:
        with self.world.lock:
            for message in messages:
                self.world.rechecks += 1
                name = f"rc{self.world.rechecks}"
                self.world.queue.append(
                    Delivery(name, message.body(), visible_at=self.world.steps + delay_seconds)
                )
        return len(messages)


class SteppedStore:
    """The in-memory store, one step per call."""

    def __init__(self, inner: InMemoryUnitStateStore, gate: Interleaver) -> None:
        self.inner, self.gate = inner, gate

    def read_many(self, keys: Sequence[UnitKey]) -> dict[UnitKey, UnitState]:
        self.gate.step()
        return self.inner.read_many(keys)

    def write(self, key: UnitKey, fields: Mapping[str, FieldState], expected_version: int) -> int | None:
        self.gate.step()
        return self.inner.write(key, fields, expected_version)

    def write_many(self, writes: Sequence[StateWrite], can_start: Callable[[], bool]) -> StateWrites:
        # One step per write, as a pool's writes would interleave with the other consumer's calls.
        return write_each(self.write, writes, can_start)


class SteppedPartner:
    """The world's partner, one step per call, failing or holding the PUTs the example chose."""

    def __init__(self, world: World, gate: Interleaver, faults: list[str]) -> None:
        self.world, self.gate, self.faults = world, gate, faults

    def list_units(self, mdt_id: str, guild_id: str) -> dict[str, PartnerUnit]:
        self.gate.step()
        self.world.open.add(threading.current_thread().name)
        return self.world.partner.list_units(mdt_id, guild_id)

    def upsert_units(
        self, mdt_id: str, guild_id: str, units: Sequence[UnitRecord], actor: str | None = None
    ) -> UpsertAnswer:
        self.gate.step()
        fault = self.faults.pop(0) if self.faults else "ok"
        error: NorthcaError | None = {
            "500": NorthcaServerError("HTTP 500", 500),
            "timeout": NorthcaTimeoutError("PUT timed out"),
        }.get(fault)
        if error is not None:
            raise error
        if fault == "late":
            LOG.append("late")
            self.world.held.append((self.world.steps, mdt_id, [record_json(unit) for unit in units]))
            raise NorthcaTimeoutError("PUT timed out; it will land later")
        result = self.world.partner.upsert_units(mdt_id, guild_id, units, actor)
        for unit in units:
            self.world.landings.setdefault(unit.unit_id, []).append(self.world.clock())
        if fault == "applied-then-timeout":
            raise NorthcaTimeoutError("PUT timed out after the partner applied it")
        return result


def consumer_work(
    name: str, world: World, deps: ConsumerDeps, draw_size: Callable[[], int], gate: Interleaver
) -> Callable[[], None]:
    def work() -> None:
        while True:
            batch = world.take(draw_size())
            if not batch:
                return
            records = [
                {
                    "messageId": d.message_id,
                    "receiptHandle": f"rh-{d.message_id}",
                    "body": d.body,
                    "attributes": {"ApproximateReceiveCount": str(d.receive_count)},
                }
                for d in batch
            ]
            try:
                outcome = process_batch(records, deps)
            except ConsumerCrashError:
                world.give_back(batch)
                continue
            finally:
                world.open.discard(name)
            world.give_back([d for d in batch if d.message_id in outcome.failed_message_ids])
            gate.step(crashable=False)  # taking the next batch is a step too

    return work


# ------------------------------------------------------------------ the oracle


def newest_relay_stamps(messages: Sequence[QueueMessage]) -> dict[tuple[str, str], FieldStamp]:
    """Per unit and field, the newest change of the relay (the merge's own order)."""
    best: dict[tuple[str, str], FieldStamp] = {}
    for message in messages:
        for position, change in enumerate(message.changes, start=message.offset):
            for name, value in change.fields.items():
                candidate = stamp(change, value, message.received_at, message.webhook_id, position)
                if candidate.newer_than(best.get((change.id, name))):
                    best[(change.id, name)] = candidate
    return best


def acceptable_values(world: World) -> dict[tuple[str, str], set[str]]:
    """Per unit and field, the values the partner may hold once drained (see the module's docstring)."""
    relay = newest_relay_stamps(world.produced)
    last_edit: dict[tuple[str, str], Edit] = {}
    for edit in world.edits:
        last_edit[(edit.unit, edit.name)] = edit
    accepted: dict[tuple[str, str], set[str]] = {}
    for key in set(relay) | set(last_edit):
        change, edit = relay.get(key), last_edit.get(key)
        if edit is None:
            assert change is not None
            accepted[key] = {change.value or ""}
            continue
        if change is None or change.at <= edit.at:
            accepted[key] = {edit.value}
            continue
        # The edit's latest possible date: the unit's last edit before the relay next wrote it
        landed = [t for t in world.landings.get(edit.unit, []) if t > edit.at]
        until = min(landed) if landed else None
        latest = max(e.at for e in world.edits if e.unit == edit.unit and (until is None or e.at < until))
        accepted[key] = (
            {change.value or ""}
            if (until is not None and change.at > latest)
            else {
                change.value or "",
                edit.value,
            }
        )
    return accepted


webhook_changes = st.lists(
    st.tuples(
        st.sampled_from(UNITS),
        st.integers(0, 6),  # the event happened this many seconds before it was received
        st.dictionaries(st.sampled_from(UNIT_FIELDS), VALUES, min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=3,
)


@dataclass
class Script:
    """Hypothesis's choices, all drawn on the test's own thread: faults, crashes, edits, batch sizes."""

    data: st.DataObject
    world: World
    faults: list[str] = field(default_factory=list)
    crashes: int = 0
    edits: int = 0
    sizes: list[int] = field(default_factory=list)
    taken: int = 0
    rechecks: bool = False  # the consumer schedules delayed rechecks (else messages wait out the window)

    @classmethod
    def draw(cls, data: st.DataObject, world: World) -> Script:
        return cls(
            data,
            world,
            faults=data.draw(
                st.lists(
                    st.sampled_from(["ok", "500", "timeout", "applied-then-timeout", "late"]), max_size=10
                )
            ),
            crashes=data.draw(st.integers(0, 3)),
            edits=data.draw(st.integers(0, 6)),
            sizes=data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=10)),
            rechecks=data.draw(st.booleans()),
        )

    def world_moves(self) -> None:
        """What happens outside the consumers before the next step."""
        world, draw = self.world, self.data.draw
        world.steps += 1
        world.clock.advance(1)
        if world.to_produce and draw(st.integers(0, 3)) == 0:
            world.produce()
            if draw(st.integers(0, 4)) == 0:  # a sender's retry: the same webhook again
                world.queue.append(Delivery(f"dup{world.steps}", world.produced[-1].body()))
        if self.edits and world.can_edit() and draw(st.integers(0, 5)) == 0:
            self.edits -= 1
            world.edit(draw(st.sampled_from(UNITS)), draw(st.sampled_from(UNIT_FIELDS)))
        for index, (since, _, _) in reversed(list(enumerate(world.held))):
            if world.steps - since >= MAX_HOLD_STEPS or draw(st.integers(0, 4)) == 0:
                world.land(index)

    def choose(self, waiting: list[str]) -> tuple[str, bool]:
        self.world_moves()
        crash = self.crashes > 0 and self.data.draw(st.integers(0, 9)) == 0
        self.crashes -= crash
        return self.data.draw(st.sampled_from(waiting)), crash

    def batch_size(self) -> int:
        self.taken += 1  # one worker runs at a time, so this needs no lock
        return self.sizes[self.taken % len(self.sizes)]


def idle(world: World) -> None:
    """Nothing to consume: the world moves on by itself (late PUTs land, the DLQ is redriven, time passes)."""
    while world.held:
        world.land(0)
    if world.dlq:
        world.redrive()
    elif world.to_produce:
        world.produce()
    elif world.queue:
        world.wait_until_visible()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), webhooks=st.lists(webhook_changes, min_size=1, max_size=12))
def test_consumers_converge_to_the_newest_of_relay_changes_and_dispatcher_edits(
    data: st.DataObject, webhooks: list[list[tuple[str, int, dict[str, str | None]]]]
) -> None:
    # Given webhooks to be produced over time (some delivered twice), faults, crashes and a dispatcher
    LOG.clear()
    world = World(to_produce=list(webhooks))
    world.produce()
    script = Script.draw(data, world)
    store = InMemoryUnitStateStore()
    # A PUT held back lands within MAX_HOLD_STEPS: the relay's late-write window covers that.
    settings_ = ConsumerConfig(
        attempts=2, min_remaining_ms=0, max_resend_rounds=2, late_write_window_seconds=MAX_HOLD_STEPS + 30
    )

    # When two interleaved consumers work until everything is drained (the world moving between steps)
    for _ in range(300):
        if world.drained():
            break
        if not world.visible():
            idle(world)
            continue
        gate = Interleaver(script.choose)
        deps = ConsumerDeps(
            writer=SteppedPartner(world, gate, script.faults),
            state=SteppedStore(store, gate),
            settings=settings_,
            visibility=ModelVisibility(world),
            rechecks=ModelRechecks(world) if script.rechecks else None,
            max_units_per_request=2,
            sleep=lambda _: None,
            clock=world.clock,
        )
        gate.run({name: consumer_work(name, world, deps, script.batch_size, gate) for name in ("c-1", "c-2")})
    assert world.drained(), "the world never drained"

    # Then nothing was sent as null or twice in a request, and every field holds an acceptable value
    assert world.partner.violations == []
    accepted_values = acceptable_values(world)
    for (unit, name), accepted in accepted_values.items():
        held = world.partner.unit(unit)[name]
        assert held in accepted, (unit, name, held, accepted, format_instant(world.clock()))
    held_by_dispatcher = sum(world.partner.unit(u)[n].startswith("D") for u, n in accepted_values)
    event(f"dispatcher edits: {min(len(world.edits), 3)}+")
    event(f"fields the dispatcher holds at the end: {min(held_by_dispatcher, 2)}+")
    event(f"fields with two acceptable values: {min(sum(len(v) > 1 for v in accepted_values.values()), 2)}+")
    event(f"late PUTs: {min(LOG.count('late'), 2)}+")
    event(f"redrives: {min(world.redrives, 2)}+")
