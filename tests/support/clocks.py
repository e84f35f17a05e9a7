"""Injected clocks: time moves only when a test says so."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.support.constants import NOW


class FixedClock:
    """An injected clock that only moves when a test says so."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
