"""The consumer's call and panic records on DynamoDB (the state table's `call#` and `panic#` items):
BatchGetItem (consistent) to read, one conditional UpdateItem per write: the two actions the consumer
already has on its `unit#` items, granted on these prefixes too.

An item: `pk`, `sk`, `value` (the record as one JSON string), `version`, `expires_at` (TTL). DynamoDB
deletes an expired item only eventually, so a read past `expires_at` counts it absent but keeps its
version for the next write's condition.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from relay.aws import aws_error_code, unless_condition_failed
from relay.consumer.emergency_state import RecordKey, StoredRecord, dump
from relay.errors import UnitStateUnavailableError
from relay.models import utc_now

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BATCH_GET_LIMIT = 100
BATCH_GET_ATTEMPTS = 5


class DynamoEmergencyStore:
    """relay.consumer.emergency_state.EmergencyStore on the state table."""

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient,
        *,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table_name = table_name
        self.client = client
        self.clock = clock
        self.sleep = sleep

    @staticmethod
    def _key(key: RecordKey) -> dict[str, Any]:
        return {"pk": {"S": key.pk}, "sk": {"S": key.sk}}

    def read_many(self, keys: Sequence[RecordKey]) -> dict[RecordKey, StoredRecord]:
        unique = sorted(set(keys))
        found = {key: StoredRecord(None, 0) for key in unique}
        now = self.clock().timestamp()
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            for item in self._read_batch(unique[start : start + BATCH_GET_LIMIT]):
                key = RecordKey(item["pk"]["S"], item["sk"]["S"])
                expires = float(item.get("expires_at", {}).get("N", "inf"))
                value = json.loads(item["value"]["S"]) if expires > now else None
                found[key] = StoredRecord(value, int(item.get("version", {}).get("N", "0")))
        return found

    def _read_batch(self, keys: Sequence[RecordKey]) -> list[dict[str, Any]]:
        pending: list[dict[str, Any]] = [self._key(k) for k in keys]
        items: list[dict[str, Any]] = []
        for attempt in range(BATCH_GET_ATTEMPTS):
            if attempt:
                self.sleep(0.05 * 2**attempt)  # DynamoDB asks for backoff on unprocessed keys
            try:
                answer = self.client.batch_get_item(
                    RequestItems={self.table_name: {"Keys": pending, "ConsistentRead": True}}
                )
            except Exception as exc:  # noqa: BLE001 - any client error means "state unknown"
                raise UnitStateUnavailableError(f"BatchGetItem: {aws_error_code(exc)}") from None
            items += answer.get("Responses", {}).get(self.table_name, [])
            unprocessed: Mapping[str, Any] = answer.get("UnprocessedKeys", {}).get(self.table_name) or {}
            pending = list(unprocessed.get("Keys", []))
            if not pending:
                return items
        raise UnitStateUnavailableError(f"BatchGetItem left {len(pending)} keys unprocessed")

    def write(
        self, key: RecordKey, value: Mapping[str, Any], expected_version: int, ttl_seconds: int
    ) -> int | None:
        new_version = expected_version + 1
        values: dict[str, Any] = {
            ":value": {"S": dump(value)},
            ":new": {"N": str(new_version)},
            ":expires": {"N": str(int(self.clock().timestamp()) + ttl_seconds)},
        }
        if expected_version == 0:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "version = :expected"
            values[":expected"] = {"N": str(expected_version)}
        answer = unless_condition_failed(
            lambda: self.client.update_item(
                TableName=self.table_name,
                Key=self._key(key),
                UpdateExpression="SET #value = :value, version = :new, expires_at = :expires",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#value": "value"},
                ExpressionAttributeValues=values,
            ),
            lambda code: UnitStateUnavailableError(f"UpdateItem {key.pk}/{key.sk}: {code}"),
        )
        return None if answer is None else new_version
