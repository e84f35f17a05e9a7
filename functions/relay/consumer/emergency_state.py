"""What the consumer keeps of calls and panics between invocations: one versioned JSON record per sender
call (`call#<mdt>#<guild>`, sk `<source>#<call key>`) and per panic sent (`panic#<mdt>#<guild>`, sk
`<unit>#<source>#<press>`) in the state table, each written only on the version it was read at.

The port is `EmergencyStore` (DynamoDB in relay.aws.emergency_state; memory: `InMemoryEmergencyStore`,
below). A record past its expiry reads as absent but keeps its version, so a write over it is still
conditional on what was read: two consumers never both think they own it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from relay.errors import UnitStateUnavailableError
from relay.models import CALL_PREFIX, PANIC_PREFIX, utc_now


class RecordKey(NamedTuple):
    pk: str
    sk: str


def call_key(mdt_id: str, guild_id: str, source: str, call: str) -> RecordKey:
    return RecordKey(f"{CALL_PREFIX}{mdt_id}#{guild_id}", f"{source}#{call}")


def panic_key(mdt_id: str, guild_id: str, unit: str, source: str, press: str) -> RecordKey:
    return RecordKey(f"{PANIC_PREFIX}{mdt_id}#{guild_id}", f"{unit}#{source}#{press}")


class StoredRecord(NamedTuple):
    """A record's value (None: absent or expired) and the version a write over it must name (0: none)."""

    value: dict[str, Any] | None
    version: int


class EmergencyStore(Protocol):
    def read_many(self, keys: Sequence[RecordKey]) -> dict[RecordKey, StoredRecord]:
        """Every key's record (consistent reads); raises UnitStateUnavailableError."""
        ...

    def write(
        self, key: RecordKey, value: Mapping[str, Any], expected_version: int, ttl_seconds: int
    ) -> int | None:
        """Store the value if the record is still at `expected_version`: its new version, or None when
        another writer was first; it expires `ttl_seconds` from now. Raises UnitStateUnavailableError."""
        ...


def dump(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


class InMemoryEmergencyStore:
    """EmergencyStore in a dict (tests, the bench, the property test). `unavailable` makes every call fail
    as a DynamoDB outage would; `before_write` runs before each write (a test's interleaving)."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self.clock = clock
        self.items: dict[RecordKey, tuple[str, int, float]] = {}  # value JSON, version, expires (epoch)
        self.unavailable = False
        self.before_write: Callable[[RecordKey], None] | None = None
        self._lock = threading.Lock()

    def read_many(self, keys: Sequence[RecordKey]) -> dict[RecordKey, StoredRecord]:
        if self.unavailable:
            raise UnitStateUnavailableError("emergency records unavailable")
        now = self.clock().timestamp()
        found = {}
        with self._lock:
            for key in keys:
                item = self.items.get(key)
                if item is None:
                    found[key] = StoredRecord(None, 0)
                else:
                    text, version, expires = item
                    found[key] = StoredRecord(json.loads(text) if expires > now else None, version)
        return found

    def write(
        self, key: RecordKey, value: Mapping[str, Any], expected_version: int, ttl_seconds: int
    ) -> int | None:
        if self.before_write is not None:
            self.before_write(key)
        if self.unavailable:
            raise UnitStateUnavailableError("emergency records unavailable")
        with self._lock:
            current = self.items.get(key)
            if (current[1] if current else 0) != expected_version:
                return None
            version = expected_version + 1
            self.items[key] = (dump(value), version, self.clock().timestamp() + ttl_seconds)
            return version

    def value(self, key: RecordKey) -> dict[str, Any] | None:
        """A record's stored value, expired or not (for tests)."""
        item = self.items.get(key)
        return json.loads(item[0]) if item else None
