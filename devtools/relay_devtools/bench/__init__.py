"""`make bench`: every benchmark prints its figures next to a baseline measured in the same run.

Each module in this package named `bench_*.py` exposes `run() -> list[Row]`; the runner prints them
as one table. Figures are never asserted in the test suite: they are read, and quoted in notes.
"""
