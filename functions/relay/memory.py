"""The in-memory twin of every store port, and of the secrets port.

Same contracts as the AWS adapters (relay.aws), held in dicts: for tests, the bench, `relay map` and a
stack without tables. The contract tests (tests/unit/test_stores.py) run the same cases over both.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from relay.consumer.unit_state import FieldState, StateWrite, StateWrites, UnitKey, UnitState, write_each
from relay.models import SOURCE_STATE_TTL_SECONDS, parse_secret_value, utc_now

# The in-memory replay guard sweeps expired records once it holds this many, so memory stays bounded.
REPLAY_SWEEP_AT = 10_000


class InMemoryReplayGuard:
    """relay.ports.ReplayGuard in a dict: for unit tests, tools, and a stack without a replay table."""

    def __init__(self) -> None:
        self.records: dict[str, float] = {}

    def seen(self, key: str, now: datetime) -> bool:
        expires_at = self.records.get(key)
        return expires_at is not None and expires_at > now.timestamp()

    def remember(self, key: str, now: datetime, ttl_seconds: int) -> bool:
        if len(self.records) >= REPLAY_SWEEP_AT:
            self.records = {k: t for k, t in self.records.items() if t > now.timestamp()}
        first = not self.seen(key, now)
        if first:
            self.records[key] = now.timestamp() + ttl_seconds
        return first


class InMemorySourceStateStore:
    """relay.ports.SourceStateStore in a dict: for tests, `relay map` and tools."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self.clock = clock
        self.items: dict[tuple[str, str], tuple[str, float]] = {}

    def get(self, pk: str, sk: str) -> Any | None:
        item = self.items.get((pk, sk))
        if item is None or item[1] <= self.clock().timestamp():
            return None
        return json.loads(item[0])

    def put(self, pk: str, sk: str, value: Any, ttl_seconds: int = SOURCE_STATE_TTL_SECONDS) -> None:
        self.items[(pk, sk)] = (json.dumps(value), self.clock().timestamp() + ttl_seconds)

    def delete(self, pk: str, sk: str) -> None:
        self.items.pop((pk, sk), None)


class InMemoryUnitStateStore:
    """relay.ports.UnitStateStore in a dict (atomic under a lock): for tests, the bench and tools."""

    def __init__(self) -> None:
        self.items: dict[UnitKey, UnitState] = {}
        self._lock = threading.Lock()

    def read_many(self, keys: Sequence[UnitKey]) -> dict[UnitKey, UnitState]:
        with self._lock:
            return {key: self.items.get(key, UnitState(key)) for key in keys}

    def write(self, key: UnitKey, fields: Mapping[str, FieldState], expected_version: int) -> int | None:
        with self._lock:
            current = self.items.get(key, UnitState(key))
            if current.version != expected_version:
                return None
            self.items[key] = UnitState(key, dict(fields), current.version + 1)
            return current.version + 1

    def write_many(self, writes: Sequence[StateWrite], can_start: Callable[[], bool]) -> StateWrites:
        return write_each(self.write, writes, can_start)


class StaticSecrets:
    """relay.ports.SecretsSource held in memory: for tests and tools. Records every fetch."""

    def __init__(self, values: dict[str, str | list[str]]) -> None:
        self.values = dict(values)
        self.fetches: list[tuple[str, bool]] = []

    def get(self, name: str, *, force_fetch: bool = False) -> list[str]:
        self.fetches.append((name, force_fetch))
        value = self.values.get(name)
        if value is None:
            return []
        return list(value) if isinstance(value, list) else parse_secret_value(value)
