"""The in-memory twins of the ingress's and the sources' ports (replay guard, source state, secrets,
the archive) and of the partner's shared pacing.

Same contracts as the AWS adapters (relay.aws), held in dicts: for tests, the bench, `relay map` and a
stack without tables. The contract tests (tests/unit/relay/ports/test_state.py) run the same cases over
both. The unit-state store's twin lives with the unit state (relay.consumer.unit_state): the ingress,
which uses these, never loads the consumer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from relay.models import SOURCE_STATE_TTL_SECONDS, bundled_value, parse_secret_value, utc_now
from relay.ports.archive import ArchivedDelivery

# The in-memory replay guard sweeps expired records once it holds this many, so memory stays bounded.
REPLAY_SWEEP_AT = 10_000


class InMemoryReplayGuard:
    """relay.ports.stores.ReplayGuard in a dict: for unit tests, tools, and a stack without a replay table."""

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
    """relay.ports.stores.SourceStateStore in a dict: for tests, `relay map` and tools."""

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


class StaticSecrets:
    """relay.ports.secrets.SecretsSource held in memory: for tests and tools. Records every fetch. With a
    `bundle`, `values[bundle]` is the bundle's JSON text, as Secrets Manager would hold it."""

    def __init__(self, values: dict[str, str | list[str]], bundle: str | None = None) -> None:
        self.values = dict(values)
        self.bundle = bundle
        self.fetches: list[tuple[str, bool]] = []

    def get(self, name: str, *, force_fetch: bool = False) -> list[str]:
        self.fetches.append((name, force_fetch))
        if self.bundle is not None:
            raw = self.values.get(self.bundle)
            return bundled_value(raw, name) if isinstance(raw, str) else []
        value = self.values.get(name)
        if value is None:
            return []
        return list(value) if isinstance(value, list) else parse_secret_value(value)


class InMemoryArchive:
    """relay.ports.archive's writer and reader in a list: tests, the bench, and a stack without a table.
    The contract tests run the same cases over it and the DynamoDB archive (relay.aws.archive)."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self.records: dict[tuple[str, str], tuple[ArchivedDelivery, float]] = {}
        self.clock = clock

    def keep(self, delivery: ArchivedDelivery, days: int) -> None:
        expires_at = delivery.received_at.timestamp() + days * 86400
        self.records[(delivery.source, delivery.name)] = (delivery, expires_at)

    def _live(self) -> list[ArchivedDelivery]:
        now = self.clock().timestamp()
        return [d for (_, name), (d, expires) in sorted(self.records.items()) if expires > now]

    def window(self, source: str, since: datetime, until: datetime) -> list[ArchivedDelivery]:
        found = [d for d in self._live() if d.source == source and since <= d.received_at <= until]
        return sorted(found, key=lambda d: d.name)

    def find(self, webhook_id: str) -> list[ArchivedDelivery]:
        return sorted((d for d in self._live() if d.lookup_id == webhook_id), key=lambda d: d.received_at)


class InMemorySlotStore:
    """relay.ports.pacing.SlotStore under a lock: tests, the bench, tools. The contract tests run the same
    cases over it and the DynamoDB store (relay.aws.pacing)."""

    def __init__(self) -> None:
        self.tat: float | None = None
        self.throttles: dict[int, int] = {}
        self._lock = threading.Lock()

    def reserve(
        self, clock: Callable[[], float], interval: float, tolerance: float, max_wait: float
    ) -> float:
        with self._lock:
            now = clock()
            tat = self.tat if self.tat is not None and self.tat > now else now
            wait = max(0.0, tat - tolerance - now)
            if wait <= max_wait:
                self.tat = tat + interval
            return wait

    def hold_until(self, until: float) -> None:
        with self._lock:
            if self.tat is None or self.tat < until:
                self.tat = until

    def count_throttle(self, now: float, window_seconds: int) -> int:
        with self._lock:
            window = int(now // window_seconds)
            self.throttles[window] = self.throttles.get(window, 0) + 1
            return self.throttles[window]
