"""A panic against a backlog of units, on the partner's shared schedule, in simulated time.

`consumers` unit consumers keep the partner busy: each reserves its next slot (relay.northca.pacing's
PartnerPacer on one InMemorySlotStore), sleeps until it, calls, and reserves again. Once the schedule is
in its steady state a panic arrives and makes `calls` calls one after another in the consumer's
emergency step (`pacer.urgent()`): one for a panic; four for a panic for a unit the MDT does not hold
as active (the panic, the unit's activation through the unit path, a read and a write, the panic
again). Calls take no time: what is measured is the wait for slots alone. Time is a number the
simulation moves, so the figures never depend on the machine.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from relay.errors import NorthcaPacedError
from relay.memory import InMemorySlotStore
from relay.northca.pacing import PartnerPacer

T0 = 1000.0  # any instant: a small one keeps the figures free of float noise
ARRIVES_AFTER = 30.0  # seconds of unit traffic before the panic: the schedule's steady state


@dataclass
class Outcome:
    """`delay`: seconds from the panic's arrival to its last call (None: a call was given back, nothing
    sent); `sends`: every call's instant; `peak`: the most calls in any one second."""

    delay: float | None
    sends: list[float] = field(default_factory=list)

    @property
    def peak(self) -> int:
        arrivals = sorted(self.sends)
        most, j = 0, 0
        for i, at in enumerate(arrivals):
            while arrivals[j] <= at - 1.0:
                j += 1
            most = max(most, i - j + 1)
        return most


class _Clock:
    def __init__(self) -> None:
        self.now = T0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)  # the simulation moves time itself


def simulate(
    consumers: int,
    rate: float = 5.0,
    burst: int = 10,
    urgent_burst: int | None = None,
    calls: int = 1,
    after: float = 5.0,
) -> Outcome:
    """The panic's calls against `consumers` busy unit consumers; unit traffic runs `after` seconds past
    the panic's last call (for the peak)."""
    clock = _Clock()
    store = InMemorySlotStore()

    def pacer() -> PartnerPacer:
        p = PartnerPacer(store, rate, burst, clock=clock, sleep=clock.sleep, urgent_burst=urgent_burst)
        p.bind(lambda: 60.0, clock.sleep)
        return p

    def slot(p: PartnerPacer) -> float | None:
        """The instant of the next call's slot (None: given back)."""
        clock.waits.clear()
        try:
            p.before_call()
        except NorthcaPacedError:
            return None
        return clock.now + sum(clock.waits)

    # Events: (instant, order, who): who is a unit consumer's index, or -1 for the panic's next call.
    events: list[tuple[float, int, int]] = [(T0, i, i) for i in range(consumers)]
    units = [pacer() for _ in range(consumers)]
    emergency = pacer()
    heapq.heappush(events, (T0 + ARRIVES_AFTER, consumers, -1))
    order = consumers + 1
    sends: list[float] = []
    left, end = calls, float("inf")
    delay: float | None = None
    while events:
        at, _, who = heapq.heappop(events)
        if at > end:
            break
        clock.now = at
        if who >= 0:
            nxt = slot(units[who])
            if nxt is not None:
                sends.append(nxt)
                heapq.heappush(events, (nxt, order, who))
                order += 1
            continue
        with emergency.urgent():
            nxt = slot(emergency)
        if nxt is None:
            return Outcome(None, sends)
        sends.append(nxt)
        left -= 1
        if left == 0:
            delay = nxt - (T0 + ARRIVES_AFTER)
            end = nxt + after
        else:
            heapq.heappush(events, (nxt, order, -1))
            order += 1
    return Outcome(delay, [s for s in sends if s <= end])
