"""Replay protection: a delivery that was queued once is answered "replayed" for a while after.

The ingress asks `seen` before the adapter runs, and calls `remember` only after every message of
the delivery is in SQS. Recording after the enqueue means a failed enqueue (503) leaves no record, so
the sender's retry is accepted; no crash between "recorded" and "queued" can ever swallow a genuine
delivery. The price is a narrow race: two copies arriving together may both be queued. That is
harmless, because the consumer's merge is idempotent (the same change twice is the same change).
`remember` is a conditional write, so it reports when it lost that race.

Keys are `<source>#<delivery id>` (a long id is hashed to keep DynamoDB's key small); a source can
never shadow another's deliveries. Records expire `replay_ttl_seconds` after they were written; an
expired record reads as absent before DynamoDB's TTL sweep (which may lag by days) removes it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MAX_READABLE_KEY = 200
# The in-memory guard sweeps expired records once it holds this many, so a container's memory stays bounded.
IN_MEMORY_SWEEP_AT = 10_000


class ReplayStoreUnavailableError(Exception):
    """The replay store could not be read or written. The ingress decides what that means."""


class ReplayGuard(Protocol):
    def seen(self, key: str, now: datetime) -> bool:
        """True if the key was remembered and has not expired at `now`."""
        ...

    def remember(self, key: str, now: datetime, ttl_seconds: int) -> bool:
        """Record the key until `now + ttl_seconds`. False if a live record was already there."""
        ...


def replay_key(source: str, delivery_id: str) -> str:
    if len(delivery_id) <= MAX_READABLE_KEY:
        return f"{source}#{delivery_id}"
    return f"{source}#sha256:{hashlib.sha256(delivery_id.encode('utf-8', 'surrogatepass')).hexdigest()}"


class InMemoryReplayGuard:
    """The same contract in a dict: for unit tests, tools, and a stack without a replay table."""

    def __init__(self) -> None:
        self.records: dict[str, float] = {}

    def seen(self, key: str, now: datetime) -> bool:
        expires_at = self.records.get(key)
        return expires_at is not None and expires_at > now.timestamp()

    def remember(self, key: str, now: datetime, ttl_seconds: int) -> bool:
        if len(self.records) >= IN_MEMORY_SWEEP_AT:
            self.records = {k: t for k, t in self.records.items() if t > now.timestamp()}
        first = not self.seen(key, now)
        if first:
            self.records[key] = now.timestamp() + ttl_seconds
        return first


class DynamoReplayGuard:
    """The port on the replay table (key `pk` S, TTL attribute `expires_at` in epoch seconds)."""

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self.table_name = table_name
        self.client = client

    def seen(self, key: str, now: datetime) -> bool:
        try:
            answer = self.client.get_item(
                TableName=self.table_name,
                Key={"pk": {"S": key}},
                ConsistentRead=True,
                ProjectionExpression="expires_at",
            )
        except Exception as exc:  # noqa: BLE001 - any client error means "unknown"
            raise ReplayStoreUnavailableError(f"GetItem: {type(exc).__name__}") from None
        expires_at = answer.get("Item", {}).get("expires_at", {}).get("N")
        return expires_at is not None and float(expires_at) > now.timestamp()

    def remember(self, key: str, now: datetime, ttl_seconds: int) -> bool:
        epoch = int(now.timestamp())
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={"pk": {"S": key}, "expires_at": {"N": str(epoch + ttl_seconds)}},
                # Overwrite only an absent or expired record: a live one means a concurrent copy won.
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                ExpressionAttributeValues={":now": {"N": str(epoch)}},
            )
        except Exception as exc:  # noqa: BLE001
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise ReplayStoreUnavailableError(f"PutItem: {type(exc).__name__}") from None
        return True


def _error_code(exc: Exception) -> str | None:
    """botocore's ClientError code, read without importing botocore into the pure modules."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code if isinstance(code, str) else None
