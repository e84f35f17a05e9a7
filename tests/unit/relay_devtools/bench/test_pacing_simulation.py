"""A panic against a backlog of units on the partner's shared schedule (rate 5, bursts of 10), in simulated
time (relay_devtools.bench.pacing_simulation): with one schedule for all, a panic's first call waited
one interval per busy unit consumer; calls and panics now go ahead of up to `burst` waiting unit calls,
and the partner never gets more than the cap plus those urgent slots in any second."""

from __future__ import annotations

import pytest

from relay_devtools.bench.pacing_simulation import simulate

RATE, BURST = 5.0, 10
CAP_PER_SECOND = RATE + BURST


@pytest.mark.parametrize(
    ("consumers", "before", "after"),
    [(2, 0.4, 0.0), (10, 2.0, 0.0), (20, 4.0, 2.0), (50, 9.8, 7.8)],
)
def test_a_panic_goes_ahead_of_the_units_busy_consumers(consumers: int, before: float, after: float) -> None:
    # Given `consumers` unit consumers keeping the partner busy, when a panic arrives
    single = simulate(consumers, RATE, BURST, urgent_burst=0)
    urgent = simulate(consumers, RATE, BURST)
    # Then its call waits `burst` intervals less than behind the units (to the slot: injected time)
    assert single.delay == pytest.approx(before, abs=1e-3)
    assert urgent.delay == pytest.approx(after, abs=1e-3)


@pytest.mark.parametrize(("consumers", "before", "after"), [(2, 2.2, 0.0), (6, 5.4, 0.0), (10, 8.6, 1.8)])
def test_a_panic_for_an_inactive_unit_makes_its_four_calls_within_two_seconds(
    consumers: int, before: float, after: float
) -> None:
    # Given a panic for a unit the MDT does not hold as active: the panic, the unit's activation through
    # the unit path (its read and its write), the panic again
    single = simulate(consumers, RATE, BURST, urgent_burst=0, calls=4)
    urgent = simulate(consumers, RATE, BURST, calls=4)
    # Then its four calls are made within the 2 s target up to ten busy consumers
    assert single.delay == pytest.approx(before, abs=1e-3)
    assert urgent.delay == pytest.approx(after, abs=1e-3) and after <= 2.0


@pytest.mark.parametrize("consumers", [2, 10, 20, 50])
@pytest.mark.parametrize("calls", [1, 4])
def test_the_partner_gets_at_most_the_cap_plus_the_urgent_calls_in_any_second(
    consumers: int, calls: int
) -> None:
    single = simulate(consumers, RATE, BURST, urgent_burst=0, calls=calls)
    urgent = simulate(consumers, RATE, BURST, calls=calls)
    assert single.peak <= CAP_PER_SECOND
    assert urgent.peak <= CAP_PER_SECOND + calls  # one more call at most per urgent call
