"""The partner's pacer around every call: it waits for its slot with the invocation's sleep, counts the
wait against the invocation's budget, gives a call up (nothing sent) rather than wait past it, holds
every consumer back after a 429, and says so once when the 429s become a storm."""

from __future__ import annotations

from typing import Any

import pytest
import urllib3

from relay.consumer.invocation import Budget
from relay.errors import NorthcaPacedError, NorthcaThrottledError, PacingUnavailableError
from relay.memory import InMemorySlotStore
from relay.northca.client import NorthcaClient
from relay.northca.pacing import HOLD_WITHOUT_RETRY_AFTER, THROTTLE_WINDOW_SECONDS, PartnerPacer
from tests.support.consumer import Harness, change, message, record
from tests.support.logs import captured_logs, log_records

T0 = 1_764_331_200.0


class Clock:
    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacer(
    rate: float = 2.0, burst: int = 2, store: Any = None, alarm_after: int = 3
) -> tuple[PartnerPacer, Clock]:
    clock = Clock()
    p = PartnerPacer(store or InMemorySlotStore(), rate, burst, alarm_after, clock=clock, sleep=clock.sleep)
    p.bind(lambda: 30.0, clock.sleep)
    return p, clock


def test_pacer_a_burst_then_one_call_each_interval() -> None:
    p, clock = pacer(rate=2, burst=2)
    for _ in range(5):
        p.before_call()
    # Two at once, then half a second apart (the clock moves only by the waits)
    assert clock.slept == [0.5, 0.5, 0.5]
    assert p.waited == 1.5 and p.paced_calls == 3


def test_pacer_a_slot_past_the_budget_is_not_waited_for() -> None:
    # Given a pacer of one call a second and an invocation with 2.5 s to spare
    p, clock = pacer(rate=1, burst=1)
    p.bind(lambda: 2.5 - (clock() - T0), clock.sleep)
    p.before_call()
    p.before_call()
    p.before_call()  # two seconds waited: half a second to spare
    # When the next slot is a second away
    with pytest.raises(NorthcaPacedError) as raised:
        p.before_call()
    # Then it is not waited for: the call fails as throttled, saying how long, and takes no slot
    assert raised.value.retry_after == pytest.approx(1.0)
    assert isinstance(raised.value, NorthcaThrottledError)
    assert clock.slept == [1.0, 1.0]


def test_pacer_waits_count_against_the_invocations_budget() -> None:
    # Given a budget whose clock is the pacer's: 20 s left, 15 s of it the reserve
    clock = Clock()
    start = clock()
    budget = Budget(lambda: int(20_000 - (clock() - start) * 1000), reserve_ms=15_000)
    p = PartnerPacer(InMemorySlotStore(), rate=1, burst=1, clock=clock, sleep=clock.sleep)
    p.bind(budget.spare_seconds, clock.sleep)
    # When calls keep coming
    calls = 0
    with pytest.raises(NorthcaPacedError):
        while True:
            p.before_call()
            calls += 1
    # Then the waits never ate into the reserve: 5 s of slack, six calls (one now, one a second)
    assert calls == 6 and budget.can_start()


def test_pacer_a_429_holds_every_consumer_back_for_its_retry_after() -> None:
    store = InMemorySlotStore()
    one, _ = pacer(store=store)
    other, other_clock = pacer(store=store)
    # When the partner answers one consumer 429 with Retry-After 30
    one.after_throttle(30.0)
    # Then the other consumer does not call for those 30 s: too long to wait in the function (billed
    # while it waits), its call fails as throttled with nothing sent, its messages back after 30 s and
    # the slots kept for calls and panics (`urgent_burst`: 2 at 2 a second, 1 s)
    with pytest.raises(NorthcaPacedError) as raised:
        other.before_call()
    assert raised.value.retry_after == pytest.approx(31.0) and other_clock.slept == []
    # and a panic waits the Retry-After too: the partner said to wait, urgent or not
    with pytest.raises(NorthcaPacedError) as raised, other.urgent():
        other.before_call()
    assert raised.value.retry_after == pytest.approx(30.0)
    # and without a Retry-After, the default hold (short: waited for in the function)
    store2 = InMemorySlotStore()
    a, _ = pacer(store=store2)
    b, b_clock = pacer(store=store2)
    a.after_throttle(None)
    with b.urgent():
        b.before_call()
    b.before_call()  # a unit's: the kept slots' second (1 s of them) after the panic's
    assert b_clock.slept == [HOLD_WITHOUT_RETRY_AFTER, pytest.approx(1.5)]


def test_pacer_calls_and_panics_go_ahead_of_the_units_waiting_slots() -> None:
    # Given units that have taken the burst and a slot more (2 a second, bursts of 2): a call now waits 1 s
    store = InMemorySlotStore()
    units, units_clock = pacer(rate=2, burst=2, store=store)
    units.bind(lambda: 30.0, lambda seconds: None)  # their calls sleep elsewhere: only their slots count
    for _ in range(3):
        units.before_call()
    # When another consumer's panic calls, twice (a panic, then its unit's activation)
    emergency, clock = pacer(rate=2, burst=2, store=store)
    with emergency.urgent():
        emergency.before_call()
        emergency.before_call()
    # Then the first goes now, not 1 s later behind the units, and the second an interval later
    assert clock.slept == [pytest.approx(0.5)] and emergency.paced_calls == 1
    # and a unit after them waits for both (the schedule moved on two slots: 2 s, not 1 s)
    units.bind(lambda: 30.0, units_clock.sleep)
    units.before_call()
    assert units_clock.slept == [pytest.approx(2.0)]
    # and outside the block the emergency consumer's calls queue as units' do
    emergency.before_call()
    assert clock.slept[-1] == pytest.approx(2.0)


def test_pacer_urgent_ends_with_its_block_even_when_it_raises() -> None:
    p, _ = pacer(rate=2, burst=2)
    with pytest.raises(RuntimeError), p.urgent(), p.urgent():
        raise RuntimeError("a call failed")
    assert p.urgent_tolerance > p.tolerance
    # No urgent slot is taken after the block: the burst then one an interval
    for _ in range(3):
        p.before_call()
    assert p.waited == pytest.approx(0.5)


def test_pacer_urgent_burst_zero_is_the_old_single_schedule() -> None:
    p = PartnerPacer(InMemorySlotStore(), 5.0, 10, urgent_burst=0)
    assert p.urgent_tolerance == p.tolerance
    assert PartnerPacer(InMemorySlotStore(), 5.0, 10).urgent_tolerance == pytest.approx(p.tolerance + 2.0)


def test_pacer_a_storm_of_429s_is_said_once_per_window() -> None:
    p, clock = pacer(alarm_after=3)
    with captured_logs() as logs:
        for _ in range(5):
            p.after_throttle(1.0)
        clock.now += THROTTLE_WINDOW_SECONDS
        for _ in range(3):
            p.after_throttle(1.0)
    storms = [r for r in log_records(logs) if r["message"].startswith("PARTNER THROTTLES THE RELAY")]
    assert len(storms) == 2 and storms[0]["level"] == "ERROR" and storms[0]["throttled"] == 3


class BrokenStore:
    def reserve(self, *_: Any) -> float:
        raise PacingUnavailableError("UpdateItem pace#northca: ThrottlingException")

    def hold_until(self, until: float) -> None:
        raise PacingUnavailableError("down")

    def count_throttle(self, now: float, window_seconds: int) -> int:
        raise PacingUnavailableError("down")


def test_pacer_a_failing_store_paces_nothing_and_stops_no_call() -> None:
    p, clock = pacer(store=BrokenStore())
    with captured_logs() as logs:
        p.before_call()
        p.after_throttle(5.0)
    assert clock.slept == []
    assert [r["message"] for r in log_records(logs)] == [
        "partner pacing unavailable: calling unpaced",
        "partner pacing unavailable: throttle not shared",
    ]


def test_pacer_rate_zero_paces_nothing_but_still_says_a_storm() -> None:
    p, clock = pacer(rate=0, alarm_after=2)
    for _ in range(100):
        p.before_call()
    assert clock.slept == []
    with captured_logs() as logs:
        p.after_throttle(30.0)
        p.after_throttle(30.0)
        p.before_call()  # no cap: not held either
    assert clock.slept == []
    assert [r["message"] for r in log_records(logs)] == [
        "PARTNER THROTTLES THE RELAY: lower [northca] max_requests_per_second"
    ]


class Answers:
    """A urllib3 pool that records requests and answers 429 then 200."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests = 0

    def request(self, *_: Any, **__: Any) -> urllib3.HTTPResponse:
        self.requests += 1
        status = self.statuses.pop(0)
        body = b'{"ok": true, "data": []}' if status == 200 else b'{"ok": false, "error": "slow down"}'
        return urllib3.HTTPResponse(
            body=body, status=status, headers={"retry-after": "7"}, preload_content=True
        )


def test_pacer_the_client_paces_every_request_and_shares_a_429() -> None:
    # Given a client whose pool answers 429 (Retry-After 7), then 200
    store = InMemorySlotStore()
    p, clock = pacer(store=store)
    pool = Answers([429, 200])
    client = NorthcaClient("https://partner.test/v1", "key", pool=pool, pace=p)  # type: ignore[arg-type]
    with pytest.raises(NorthcaThrottledError):
        client.list_units("mdt", "123456789012345678")
    # When it calls again
    assert client.list_units("mdt", "123456789012345678") == {}
    # Then that call (a unit's) waited the Retry-After first and the slots kept for calls and panics (1 s);
    # a paced-out call sends nothing
    assert clock.slept == [8.0]
    p.bind(lambda: 0.0, clock.sleep)
    store.hold_until(clock() + 100)
    with pytest.raises(NorthcaPacedError):
        client.list_units("mdt", "123456789012345678")
    assert pool.requests == 2


def test_pacer_a_paced_out_consumer_gives_its_messages_back_after_the_wait() -> None:
    # Given a consumer whose pacer has no slot within the invocation (the partner said wait 120 s)
    h = Harness()
    store = InMemorySlotStore()
    p, _ = pacer(store=store)
    store.hold_until(p.clock() + 120)

    class PacedPartner:
        def list_units(self, mdt_id: str, guild_id: str) -> Any:
            p.before_call()
            return h.partner.list_units(mdt_id, guild_id)

        def upsert_units(self, *args: Any) -> Any:
            p.before_call()
            return h.partner.upsert_units(*args)

    deps = h.deps(writer=PacedPartner())
    deps.pacer = p
    from relay.consumer.pipeline import process_batch

    outcome = process_batch([record("1", message("w1", change("ADAM-12", 1, status="10-8")))], deps)
    # Then nothing reached the partner; the message comes back after the wait, not at once
    assert h.partner.requests == [] and outcome.failed_message_ids == {"1"}
    assert outcome.stopped == "throttled" and outcome.throttle_delay == 120
    assert h.visibility.calls == [(["rh-1"], 120)]
