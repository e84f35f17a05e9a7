"""The ingress's stores on DynamoDB: source state (the state table's `roster#` and `cache#` items) and the
replay records (their own table). The consumer's unit state is relay.aws.unit_state.

Every failure becomes the store's typed error naming the operation, the key and AWS's error code
(`ThrottlingException`, `AccessDeniedException`, ...), never just `ClientError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from relay.aws import CONDITION_FAILED, aws_error_code
from relay.errors import ReplayStoreUnavailableError, SourceStateUnavailableError
from relay.models import SOURCE_STATE_TTL_SECONDS, utc_now

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_TTL_DAYS = 7
BATCH_GET_LIMIT = 100  # DynamoDB's BatchGetItem limit
BATCH_GET_ATTEMPTS = 5


# ------------------------------------------------------------------------------ source state


class DynamoSourceStateStore:
    """relay.ports.stores.SourceStateStore on the state table: the value is one JSON string attribute, so
    DynamoDB's number types never leak into the logic; `expires_at` is the TTL (epoch seconds)."""

    def __init__(
        self, table_name: str, client: DynamoDBClient, clock: Callable[[], datetime] = utc_now
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
            raise SourceStateUnavailableError(f"GetItem {pk}: {aws_error_code(exc)}") from None
        item = answer.get("Item")
        if not item:
            return None
        expires_at = item.get("expires_at", {}).get("N")
        if expires_at is not None and float(expires_at) <= self.clock().timestamp():
            return None
        return json.loads(item["value"]["S"])

    def put(self, pk: str, sk: str, value: Any, ttl_seconds: int = SOURCE_STATE_TTL_SECONDS) -> None:
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
            raise SourceStateUnavailableError(f"PutItem {pk}: {aws_error_code(exc)}") from None

    def delete(self, pk: str, sk: str) -> None:
        try:
            self.client.delete_item(TableName=self.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}})
        except Exception as exc:  # noqa: BLE001
            raise SourceStateUnavailableError(f"DeleteItem {pk}: {aws_error_code(exc)}") from None


# ------------------------------------------------------------------------------ replay records


class DynamoReplayGuard:
    """relay.ports.stores.ReplayGuard on the replay table (key `pk` S, TTL attribute `expires_at`)."""

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
            raise ReplayStoreUnavailableError(f"GetItem: {aws_error_code(exc)}") from None
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
            code = aws_error_code(exc)
            if code == CONDITION_FAILED:
                return False
            raise ReplayStoreUnavailableError(f"PutItem: {code}") from None
        return True
