"""The consumer keeps its deadline: a call to AWS or the partner starts only while the reserve
(`min_remaining_ms`) is left, and what there was no time for is handed back, never lost.

Time here is simulated: every store call and partner call spends a fixed number of milliseconds of a
clock the test owns, so the figures do not depend on the machine (no sleep, no timer).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from relay.config.schema import ConsumerConfig
from relay.consumer.invocation import ConsumerDeps
from relay.consumer.pipeline import process_batch
from relay.consumer.unit_state import FieldState, InMemoryUnitStateStore, UnitKey, UnitState
from relay.messages import QueueMessage
from relay.models import UNIT_FIELDS
from relay.ports.partner import PartnerUnit, UnitRecord, UpsertAnswer
from tests.support.clocks import FixedClock
from tests.support.constants import GUILD, MDT
from tests.support.consumer import MemoryPartner, change, message, record

TIMEOUT_MS = 60_000
RESERVE_MS = 15_000
STATE_CALL_MS = 10  # the simulated AWS latency per call
PARTNER_CALL_MS = 200


class Invocation:
    """One Lambda invocation's clock: what is left of the timeout, spent by the calls."""

    def __init__(self) -> None:
        self.elapsed_ms = 0

    def remaining_ms(self) -> int:
        return TIMEOUT_MS - self.elapsed_ms

    def spend(self, ms: int) -> None:
        self.elapsed_ms += ms


class SlowStore(InMemoryUnitStateStore):
    """The unit-state store where every AWS call (a BatchGetItem of up to 100 keys, an UpdateItem)
    takes STATE_CALL_MS; records the time left when each call started."""

    def __init__(self) -> None:
        super().__init__()
        self.invocation = Invocation()
        self.starts: list[int] = []

    def _call(self) -> None:
        self.starts.append(self.invocation.remaining_ms())
        self.invocation.spend(STATE_CALL_MS)

    def read_many(self, keys: Sequence[UnitKey]) -> dict[UnitKey, UnitState]:
        for _ in range(math.ceil(len(keys) / 100)):
            self._call()
        return super().read_many(keys)

    def write(self, key: UnitKey, fields: Mapping[str, FieldState], expected_version: int) -> int | None:
        self._call()
        return super().write(key, fields, expected_version)


class SlowPartner(MemoryPartner):
    """The partner, where each call takes PARTNER_CALL_MS of the same invocation's time."""

    def __init__(self, store: SlowStore) -> None:
        super().__init__()
        self.store = store

    def upsert_units(
        self, mdt_id: str, guild_id: str, units: Sequence[UnitRecord], actor: str | None = None
    ) -> UpsertAnswer:
        self.store.starts.append(self.store.invocation.remaining_ms())
        self.store.invocation.spend(PARTNER_CALL_MS)
        return super().upsert_units(mdt_id, guild_id, units, actor)

    def list_units(self, mdt_id: str, guild_id: str) -> dict[str, PartnerUnit]:
        self.store.starts.append(self.store.invocation.remaining_ms())
        self.store.invocation.spend(PARTNER_CALL_MS)
        return super().list_units(mdt_id, guild_id)


def wide_messages(count: int, units: int) -> list[QueueMessage]:
    """`count` messages of `units` distinct units each (the issue's 8 x 500)."""
    return [
        message(
            f"wh-{m}",
            *(change(f"U{m:02d}-{u:04d}", m, status=f"10-{m}", rank="PO") for u in range(units)),
            received=m,
        )
        for m in range(count)
    ]


def deps(store: SlowStore, partner: MemoryPartner) -> ConsumerDeps:
    clock = FixedClock()
    clock.advance(60)
    return ConsumerDeps(
        writer=partner,
        state=store,
        settings=ConsumerConfig(min_remaining_ms=RESERVE_MS),
        remaining_ms=store.invocation.remaining_ms,
        sleep=lambda seconds: store.invocation.spend(int(seconds * 1000)),
        clock=clock,
    )


def test_a_batch_too_large_for_one_invocation_stops_in_time_and_hands_the_rest_back() -> None:
    # Given 8 messages of 500 units each, and 10 ms per AWS call: 8,000 conditional writes and 40 PUTs
    # take about 90 s one after the other, more than the 60 s timeout
    store = SlowStore()
    partner = SlowPartner(store)
    messages = wide_messages(8, 500)
    records = [record(f"m{i}", body) for i, body in enumerate(messages)]
    pending = list(records)
    invocations = 0
    while pending:
        invocations += 1
        assert invocations <= 6, "the work never finishes"
        store.invocation = Invocation()
        store.starts.clear()
        # When one invocation consumes what is pending
        outcome = process_batch(pending, deps(store, partner))
        # Then no call started with less than the reserve left, so the invocation ended in time
        assert store.starts, "nothing was called"
        assert min(store.starts) >= RESERVE_MS
        assert store.invocation.elapsed_ms <= TIMEOUT_MS - RESERVE_MS + PARTNER_CALL_MS
        # And what it had no time for is handed back (its messages are failed, not acknowledged)
        if outcome.failed_message_ids:
            assert outcome.stopped == "out of time"
        pending = [r for r in pending if r["messageId"] in outcome.failed_message_ids]
    # And over the invocations every unit reaches the partner with its newest value
    assert invocations > 1
    for m, body in enumerate(messages):
        for unit in body.changes:
            assert partner.unit(unit.id)["status"] == f"10-{m}"
    assert not partner.violations


def test_an_invocation_started_with_too_little_time_calls_nothing_and_hands_everything_back() -> None:
    # Given an invocation with less than the reserve left
    store = SlowStore()
    store.invocation.spend(TIMEOUT_MS - RESERVE_MS + 1)
    partner = SlowPartner(store)
    records = [record("m0", message("wh-0", change("ADAM-12", 1, status="10-8")))]
    # When it consumes a batch
    outcome = process_batch(records, deps(store, partner))
    # Then no AWS or partner call was made, and the message comes back
    assert store.starts == []
    assert outcome.failed_message_ids == {"m0"}
    assert outcome.stopped == "out of time"


def test_time_running_out_between_the_put_and_its_record_gives_the_unit_back_and_it_converges() -> None:
    # Given a unit whose PUT is the last call there is time for (its confirmation is not recorded)
    store = SlowStore()
    partner = SlowPartner(store)
    rows = [record("m0", message("wh-0", change("ADAM-12", 1, status="10-8", rank="SGT")))]
    first = deps(store, partner)
    # 10 ms read + 200 ms list + 10 ms intent + 200 ms PUT: leave just enough for those
    store.invocation.spend(TIMEOUT_MS - RESERVE_MS - 10 - 200 - 10 - 199)
    outcome = process_batch(rows, first)
    assert partner.unit("ADAM-12")["status"] == "10-8"
    assert outcome.failed_message_ids == {"m0"}
    # When the message comes back to an invocation with time
    store.invocation = Invocation()
    again = process_batch(rows, deps(store, partner))
    # Then the PUT is recognised as the relay's own: no second PUT, and the unit is settled
    assert again.failed_message_ids == set()
    assert len(partner.requests) == 1
    key = UnitKey(MDT, GUILD, "ADAM-12")
    state = store.read_many([key])[key]
    assert state.field("status").base is not None
    assert state.field("status").base.value == "10-8"
    assert {name for name in UNIT_FIELDS if state.field(name).base is not None} == set(UNIT_FIELDS)


def test_the_budget_is_what_is_left_not_a_wall_clock() -> None:
    # Given the same batch twice, once with the whole timeout and once 40 s into it
    rows = [record(f"m{i}", body) for i, body in enumerate(wide_messages(2, 500))]
    roomy, late = SlowStore(), SlowStore()
    process_batch(rows, deps(roomy, SlowPartner(roomy)))
    late.invocation.spend(40_000)
    outcome = process_batch(rows, deps(late, SlowPartner(late)))
    # Then the roomy one finishes, and the late one does only what fits in the 5 s before the reserve
    assert min(late.starts) >= RESERVE_MS
    assert late.invocation.elapsed_ms <= TIMEOUT_MS - RESERVE_MS + PARTNER_CALL_MS
    assert len(late.starts) < len(roomy.starts)
    assert outcome.failed_message_ids  # what did not fit comes back
