"""`make bench`: every benchmark prints its figures next to a baseline measured in the same run.

Each module in this package named `bench_*.py` exposes `run() -> list[Row]`; the runner prints them
as one table. Figures are never asserted in the test suite: they are read, and quoted in notes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


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


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Logs and EMF metrics are written as in Lambda, but to /dev/null instead of the terminal."""
    from relay.observability import logger

    with Path(os.devnull).open("w") as sink, contextlib.redirect_stdout(sink):
        handler = logger.registered_handler
        previous = handler.setStream(sink) if hasattr(handler, "setStream") else None
        try:
            yield
        finally:
            if previous is not None and hasattr(handler, "setStream"):
                handler.setStream(previous)
