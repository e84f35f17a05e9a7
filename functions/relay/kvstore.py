"""A small key-value port for what sources must remember between requests (rosters, id caches).

Keys are (pk, sk) pairs in the unit-state table: `roster#<server>` for ER:LC rosters and
`cache#<source>` for per-source caches (the consumer uses `unit#...` in the same table). Values are
JSON documents, stored as one string attribute so DynamoDB's number types never leak into the logic.
Items carry a TTL (`expires_at`, epoch seconds); an expired item reads as absent even before
DynamoDB's background sweep removes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from relay.errors import RelayError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_TTL_SECONDS = 7 * 24 * 3600


class StateUnavailableError(RelayError):
    """The state store could not be read or written: 503 so a sender retries."""

    status = 503
    public_message = "State store unavailable, retry later"


class KeyValueStore(Protocol):
    def get(self, pk: str, sk: str) -> Any | None: ...

    def put(self, pk: str, sk: str, value: Any, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None: ...

    def delete(self, pk: str, sk: str) -> None: ...


def roster_key(server: str) -> str:
    return f"roster#{server}"


def cache_key(source: str) -> str:
    return f"cache#{source}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class InMemoryKeyValueStore:
    """The same contract held in a dict: for tests, `relay map` and tools."""

    def __init__(self, clock: Callable[[], datetime] = _utc_now) -> None:
        self.clock = clock
        self.items: dict[tuple[str, str], tuple[str, float]] = {}

    def get(self, pk: str, sk: str) -> Any | None:
        item = self.items.get((pk, sk))
        if item is None or item[1] <= self.clock().timestamp():
            return None
        return json.loads(item[0])

    def put(self, pk: str, sk: str, value: Any, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self.items[(pk, sk)] = (json.dumps(value), self.clock().timestamp() + ttl_seconds)

    def delete(self, pk: str, sk: str) -> None:
        self.items.pop((pk, sk), None)


class DynamoKeyValueStore:
    """The port on the unit-state table (key `pk` S + `sk` S, TTL attribute `expires_at`)."""

    def __init__(
        self, table_name: str, client: DynamoDBClient, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self.table_name = table_name
        self.client = client
        self.clock = clock

    def get(self, pk: str, sk: str) -> Any | None:
        try:
            answer = self.client.get_item(
                TableName=self.table_name,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                ConsistentRead=True,
            )
        except Exception as exc:  # noqa: BLE001 - any client error means "state unknown"
            raise StateUnavailableError(f"GetItem {pk}: {type(exc).__name__}") from None
        item = answer.get("Item")
        if not item:
            return None
        expires_at = item.get("expires_at", {}).get("N")
        if expires_at is not None and float(expires_at) <= self.clock().timestamp():
            return None
        return json.loads(item["value"]["S"])

    def put(self, pk: str, sk: str, value: Any, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        expires_at = int(self.clock().timestamp()) + ttl_seconds
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    "pk": {"S": pk},
                    "sk": {"S": sk},
                    "value": {"S": json.dumps(value, separators=(",", ":"))},
                    "expires_at": {"N": str(expires_at)},
                },
            )
        except Exception as exc:  # noqa: BLE001
            raise StateUnavailableError(f"PutItem {pk}: {type(exc).__name__}") from None

    def delete(self, pk: str, sk: str) -> None:
        try:
            self.client.delete_item(TableName=self.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}})
        except Exception as exc:  # noqa: BLE001
            raise StateUnavailableError(f"DeleteItem {pk}: {type(exc).__name__}") from None


# The names under which the store's operations reach adapters through `AdapterContext.lookups`.
STATE_GET = "state.get"
STATE_PUT = "state.put"
STATE_DELETE = "state.delete"


def state_lookups(store: KeyValueStore) -> Mapping[str, Callable[..., Any]]:
    """The lookups an ingress passes to adapters so they can read and write source state."""
    return {STATE_GET: store.get, STATE_PUT: store.put, STATE_DELETE: store.delete}
