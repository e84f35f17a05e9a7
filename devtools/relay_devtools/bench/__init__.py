"""`make bench`: every benchmark prints its figures next to a baseline measured in the same run.

Each module in this package named `bench_*.py` exposes `run() -> list[Row]`; the runner prints them
as one table. Figures are never asserted in the test suite: they are read, and quoted in notes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One measured figure next to the baseline it should be read against."""

    name: str
    value: float
    baseline_name: str
    baseline: float
    unit: str

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("inf")
