"""Convergence, proved by Hypothesis: interleaved consumers, duplicates, any order, faults and crashes.

Each example builds a stream of webhooks (duplicates included), shuffles their delivery, and lets two
consumers take batches from an in-memory queue. The consumers are the real `process_batch` running in
threads, but only one runs at a time: every call to the state store or the partner is a step, and
Hypothesis chooses which consumer takes the next step (`Interleaver`). It may also make a partner
call fail (500, timeout, a timeout after the partner applied the PUT) or crash a consumer at a step
(the whole batch comes back, as when Lambda dies). Failed messages come back with a higher receive
count. Once the queue is drained, the partner must hold the newest value of every field.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.config import ConsumerConfig
from relay.consumer.merge import FieldStamp, stamp
from relay.consumer.pipeline import ConsumerDeps, process_batch
from relay.consumer.unit_state import UnitKey, UnitState
from relay.errors import NorthcaError, NorthcaServerError, NorthcaTimeoutError
from relay.memory import InMemoryUnitStateStore
from relay.messages import QueueMessage
from relay.models import UNIT_FIELDS, UnitChange
from relay.northca.client import UpsertResult
from tests.support.constants import GUILD, MDT, NOW
from tests.support.consumer import MemoryPartner

UNITS = ("A", "B", "C")
VALUES = st.one_of(st.none(), st.sampled_from(["10-8", "10-7", "10-6", "Patrol", "PO", ""]))


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


class SteppedStore:
    """The in-memory store, one step per call."""

    def __init__(self, inner: InMemoryUnitStateStore, gate: Interleaver) -> None:
        self.inner, self.gate = inner, gate

    def read_many(self, keys: Sequence[UnitKey]) -> dict[UnitKey, UnitState]:
        self.gate.step()
        return self.inner.read_many(keys)

    def write_fields(
        self, key: UnitKey, fields: Mapping[str, FieldStamp], expected_version: int
    ) -> int | None:
        self.gate.step()
        return self.inner.write_fields(key, fields, expected_version)

    def mark_sent(self, key: UnitKey, version: int) -> bool:
        self.gate.step()
        return self.inner.mark_sent(key, version)

    def mark_dirty(self, key: UnitKey) -> None:
        self.gate.step()
        self.inner.mark_dirty(key)


class SteppedPartner:
    """The in-memory partner, one step per call, failing the calls the example chose to fail."""

    def __init__(self, inner: MemoryPartner, gate: Interleaver, faults: list[str]) -> None:
        self.inner, self.gate, self.faults = inner, gate, faults

    def upsert_units(
        self, mdt_id: str, guild_id: str, units: Sequence[dict[str, Any]], actor: str | None = None
    ) -> UpsertResult:
        self.gate.step()
        fault = self.faults.pop(0) if self.faults else "ok"
        error: NorthcaError | None = {
            "500": NorthcaServerError("HTTP 500", 500),
            "timeout": NorthcaTimeoutError("PUT timed out"),
        }.get(fault)
        if error is not None:
            raise error
        result = self.inner.upsert_units(mdt_id, guild_id, units, actor)
        if fault == "applied-then-timeout":
            raise NorthcaTimeoutError("PUT timed out after the partner applied it")
        return result


@dataclass
class Delivery:
    message_id: str
    body: str
    receive_count: int = 1


@dataclass
class MemoryQueue:
    pending: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, size: int) -> list[Delivery]:
        with self.lock:
            batch, self.pending = self.pending[:size], self.pending[size:]
            return batch

    def give_back(self, deliveries: Sequence[Delivery]) -> None:
        with self.lock:
            self.pending += [Delivery(d.message_id, d.body, d.receive_count + 1) for d in deliveries]


webhook_changes = st.lists(
    st.tuples(
        st.sampled_from(UNITS),
        st.integers(0, 6),  # few distinct event times: many ties, broken by the stamp
        st.dictionaries(st.sampled_from(UNIT_FIELDS), VALUES, min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=3,
)


def newest_per_field(messages: Sequence[QueueMessage]) -> dict[str, dict[str, str | None]]:
    """The oracle: per unit and field, the value whose stamp is greatest (the merge invariant)."""
    best: dict[str, dict[str, FieldStamp]] = {}
    for message in messages:
        for change in message.changes:
            for name, value in change.fields.items():
                candidate = stamp(change, value, message.received_at, message.webhook_id)
                current = best.setdefault(change.id, {}).get(name)
                if current is None or candidate.key() > current.key():
                    best[change.id][name] = candidate
    return {unit: {name: s.value for name, s in fields.items()} for unit, fields in best.items()}


def consumer_work(
    name: str, queue: MemoryQueue, deps: ConsumerDeps, draw_size: Callable[[], int], gate: Interleaver
) -> Callable[[], None]:
    def work() -> None:
        while True:
            batch = queue.take(draw_size())
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
                queue.give_back(batch)
                continue
            queue.give_back([d for d in batch if d.message_id in outcome.failed_message_ids])
            gate.step(crashable=False)  # taking the next batch is a step too

    return work


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), webhooks=st.lists(webhook_changes, min_size=1, max_size=12))
def test_consumers_converge_to_the_newest_value_of_every_field(
    data: st.DataObject, webhooks: list[list[tuple[str, int, dict[str, str | None]]]]
) -> None:
    # Given webhooks (each a few changes), some delivered twice, in a random order
    messages = [
        QueueMessage(
            source="cad",
            mdt_id=MDT,
            guild_id=GUILD,
            webhook_id=f"w{i}",
            received_at=NOW + timedelta(seconds=i % 4),
            changes=[
                UnitChange(id=unit, at=NOW + timedelta(seconds=at), fields=fields)
                for unit, at, fields in changes
            ],
        )
        for i, changes in enumerate(webhooks)
    ]
    duplicated = data.draw(st.lists(st.sampled_from(range(len(messages))), max_size=len(messages)))
    deliveries = [Delivery(f"m{i}", m.body()) for i, m in enumerate(messages)]
    deliveries += [Delivery(f"d{n}-{i}", messages[i].body()) for n, i in enumerate(duplicated)]
    queue = MemoryQueue(data.draw(st.permutations(deliveries)))
    # And a partner that fails some calls, and consumers that may crash a few times
    faults = data.draw(
        st.lists(st.sampled_from(["ok", "500", "timeout", "applied-then-timeout"]), max_size=8)
    )
    crashes = [data.draw(st.integers(0, 3))]

    def choose(waiting: list[str]) -> tuple[str, bool]:
        crash = crashes[0] > 0 and data.draw(st.integers(0, 9)) == 0
        crashes[0] -= crash
        return data.draw(st.sampled_from(waiting)), crash

    gate = Interleaver(choose)
    store, partner = InMemoryUnitStateStore(), MemoryPartner()
    stepped_partner = SteppedPartner(partner, gate, faults)
    settings_ = ConsumerConfig(attempts=2, min_remaining_ms=0, max_resend_rounds=2, max_write_conflicts=2)

    def deps() -> ConsumerDeps:
        return ConsumerDeps(
            writer=stepped_partner,
            state=SteppedStore(store, gate),
            settings=settings_,
            max_units_per_request=2,
            sleep=lambda _: None,
        )

    # Batch sizes are drawn here: Hypothesis draws only on the test's own thread.
    sizes = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=10))
    taken = [0]

    def draw_size() -> int:
        taken[0] += 1  # one worker runs at a time, so this needs no lock
        return sizes[taken[0] % len(sizes)]

    # When two interleaved consumers drain the queue (a new pair when failures came back late)
    for _ in range(50):
        if not queue.pending:
            break
        gate = Interleaver(choose)
        stepped_partner.gate = gate
        gate.run(
            {
                name: consumer_work(name, queue, _with_gate(deps(), gate), draw_size, gate)
                for name in ("consumer-1", "consumer-2")
            }
        )
    assert not queue.pending, "the queue never drained"

    # Then the partner holds the newest value of every field, and never saw a repeated id or omitted field
    assert partner.violations == []
    expected = newest_per_field(messages)
    for unit, fields in expected.items():
        held = partner.unit(unit)
        for name, value in fields.items():
            assert held[name] == value, (unit, name, held, value)


def _with_gate(deps: ConsumerDeps, gate: Interleaver) -> ConsumerDeps:
    assert isinstance(deps.state, SteppedStore)
    deps.state.gate = gate
    return deps
