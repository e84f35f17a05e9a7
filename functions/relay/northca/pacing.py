"""Every partner call, paced to `[northca] max_requests_per_second` with bursts of `burst`, across all
concurrent consumer invocations (their shared schedule: relay.ports.pacing).

- Before each call (the client's one place where requests leave: relay.northca.client), a slot is
  reserved; the call waits for it with the invocation's sleep, and the wait counts against the
  invocation's time (relay.consumer.invocation.Budget): a slot further away than the invocation can
  wait (or than MAX_SLOT_WAIT_SECONDS) is not taken, and the call fails as throttled
  (NorthcaPacedError, nothing sent): its messages come back after that wait, as after a partner's
  Retry-After.
- Calls and panics go first (`urgent()`: the consumer's emergency step): their calls may run `urgent_burst`
  slots further ahead of the schedule than units' (in GCRA terms a larger tolerance), so a panic does
  not queue behind the slots units already hold, while it still pushes the schedule one interval for
  the units after it. In any window the partner gets at most the cap (rate x window + burst) plus
  `urgent_burst`, and never more beyond the cap than the urgent calls sent in that window.
- A 429/503 from the partner holds every invocation back until its Retry-After (else
  `HOLD_WITHOUT_RETRY_AFTER`), and is counted: `alarm_after` of them within THROTTLE_WINDOW_SECONDS
  log the line the partner-refuses-setup alarm counts, once per window.
- The schedule's store failing costs the pacing, never a call (fail open, logged).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from relay.errors import NorthcaPacedError, PacingUnavailableError
from relay.observability import logger
from relay.ports.pacing import SlotStore

THROTTLE_WINDOW_SECONDS = 300
HOLD_WITHOUT_RETRY_AFTER = 5.0
# A slot further away than this (a partner's long Retry-After, a crowd of consumers) is not waited for in
# the function, which is billed while it waits: the messages come back after the wait instead (a
# visibility delay costs nothing). Paced calls of one invocation each wait about an interval.
MAX_SLOT_WAIT_SECONDS = 10.0


class PartnerPacer:
    """relay.ports.pacing.Pacing on a shared SlotStore; `rate` 0 paces nothing (429s are still counted)."""

    def __init__(
        self,
        store: SlotStore,
        rate: float,
        burst: int,
        alarm_after: int = 10,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        urgent_burst: int | None = None,
    ) -> None:
        self.store = store
        self.rate = rate
        self.interval = 1.0 / rate if rate > 0 else 0.0
        # A burst of `burst` calls goes at once: the schedule may run this far ahead of now.
        self.tolerance = (burst - 1) * self.interval
        # Calls and panics may go this many slots further ahead (None: `burst`, a second burst of theirs).
        self.urgent_tolerance = (
            self.tolerance + (burst if urgent_burst is None else urgent_burst) * self.interval
        )
        self._urgent = 0
        self.alarm_after = alarm_after
        self.clock = clock
        self.sleep = sleep
        self.spare_seconds: Callable[[], float] = lambda: 60.0
        self.waited = 0.0  # seconds waited for slots since bind(): the invocation's share
        self.paced_calls = 0

    def bind(self, spare_seconds: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.spare_seconds, self.sleep = spare_seconds, sleep
        self.waited, self.paced_calls = 0.0, 0

    @contextmanager
    def urgent(self) -> Iterator[None]:
        self._urgent += 1
        try:
            yield
        finally:
            self._urgent -= 1

    def before_call(self) -> None:
        if self.rate <= 0:
            return
        allowed = max(0.0, min(self.spare_seconds(), MAX_SLOT_WAIT_SECONDS))
        tolerance = self.urgent_tolerance if self._urgent else self.tolerance
        try:
            wait = self.store.reserve(self.clock, self.interval, tolerance, allowed)
        except PacingUnavailableError as exc:
            logger.warning("partner pacing unavailable: calling unpaced", extra={"error": str(exc)})
            return
        if wait > allowed:
            raise NorthcaPacedError(wait)
        if wait > 0:
            self.paced_calls += 1
            self.waited += wait
            self.sleep(wait)

    def after_throttle(self, retry_after: float | None) -> None:
        now = self.clock()
        hold = retry_after if retry_after is not None and retry_after >= 0 else HOLD_WITHOUT_RETRY_AFTER
        try:
            # The first call after the hold goes at its end: the largest tolerance (urgent calls') is added
            # to it, so a panic waits out the partner's hold too; units then wait `urgent_burst` slots more.
            self.store.hold_until(now + hold + self.urgent_tolerance)
            count = self.store.count_throttle(now, THROTTLE_WINDOW_SECONDS)
        except PacingUnavailableError as exc:
            logger.warning("partner pacing unavailable: throttle not shared", extra={"error": str(exc)})
            return
        if count == self.alarm_after:
            logger.error(  # alarmed (template.yaml: PartnerRefusesSetupFilter)
                "PARTNER THROTTLES THE RELAY: lower [northca] max_requests_per_second",
                extra={"throttled": count, "window_seconds": THROTTLE_WINDOW_SECONDS, "rate": self.rate},
            )
