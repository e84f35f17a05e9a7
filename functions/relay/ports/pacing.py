"""The partner's rate, shared by every consumer invocation: one schedule of slots (GCRA: a theoretical
arrival time `tat` that each call pushes one interval further), kept where every invocation sees it.

A call reserves the next slot with one conditional write: `tat` in the past, the call goes now; `tat`
ahead, it waits until `tat` less the burst's tolerance. A reservation never goes further than the
caller can wait (nothing is taken then), so a slot is never held by a call that will not be made.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol


class SlotStore(Protocol):
    """Where the schedule lives (relay.aws.pacing on the state table; the twin in relay.memory)."""

    def reserve(
        self, clock: Callable[[], float], interval: float, tolerance: float, max_wait: float
    ) -> float:
        """Take the next slot: seconds to wait before using it (0: now). A wait longer than `max_wait`
        is returned without taking the slot. `clock` is read after the schedule is, at each attempt: the
        instants of the reservations then follow the order of their writes, which the GCRA's bound
        needs. Raises PacingUnavailableError."""
        ...

    def hold_until(self, until: float) -> None:
        """No slot before `until` (epoch seconds), for every caller: the partner said to wait."""
        ...

    def count_throttle(self, now: float, window_seconds: int) -> int:
        """Count a throttled answer in the current window; the window's count so far."""
        ...


class Pacing(Protocol):
    """What every partner call passes through (relay.northca.pacing.PartnerPacer)."""

    def before_call(self) -> None:
        """Wait for the call's slot, or raise NorthcaPacedError (nothing sent)."""
        ...

    def after_throttle(self, retry_after: float | None) -> None:
        """The partner answered 429/503: hold every caller back, count it."""
        ...

    def urgent(self) -> AbstractContextManager[None]:
        """Calls made within are calls and panics: they go ahead of the units' waiting slots."""
        ...

    def bind(self, spare_seconds: Callable[[], float], sleep: Callable[[float], None]) -> None:
        """Waits from now on count against this budget (one invocation's)."""
        ...
