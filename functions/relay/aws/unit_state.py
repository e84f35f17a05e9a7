"""The consumer's unit state on DynamoDB (the state table's `unit#<mdt>#<guild>` items): BatchGetItem for
reads, one conditional UpdateItem per write.

Every failure becomes UnitStateUnavailableError naming the operation, the key and AWS's error code
(`ThrottlingException`, `AccessDeniedException`, ...), never just `ClientError`.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from relay.aws import aws_error_code, unless_condition_failed
from relay.consumer.unit_state import (
    FieldState,
    StateWrite,
    StateWrites,
    UnitKey,
    UnitState,
    fields_from_json,
    fields_to_json,
    write_each,
)
from relay.errors import UnitStateUnavailableError
from relay.models import utc_now

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_TTL_DAYS = 7
BATCH_GET_LIMIT = 100  # DynamoDB's BatchGetItem limit
BATCH_GET_ATTEMPTS = 5


class DynamoUnitStateStore:
    """relay.consumer.unit_state.UnitStateStore: BatchGetItem for reads, one conditional UpdateItem per
    write; many of either run on a pool of `workers` threads (boto3 clients are thread-safe; the client's
    connection pool should be as large).

    An item: `pk`, `sk`, `state` (the fields as one JSON document, zlib-compressed binary:
    relay.consumer.unit_state; an earlier release's plain string still reads), `version`,
    `mdt_id`, `guild_id`, `updated_at`, and `expires_at` (TTL), refreshed by every write.
    """

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient,
        *,
        ttl_days: int = DEFAULT_TTL_DAYS,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        workers: int = 1,
    ) -> None:
        self.table_name = table_name
        self.client = client
        self.ttl_seconds = ttl_days * 86400
        self.clock = clock
        self.sleep = sleep
        self.workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None

    def _run[T, R](self, work: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """`work` over the items, on the pool when there is more than one (kept for the container's
        life: warm invocations reuse its threads)."""
        if self.workers == 1 or len(items) < 2:
            return [work(item) for item in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="unit-state")
        return list(self._pool.map(work, items))

    @staticmethod
    def _key(key: UnitKey) -> dict[str, Any]:
        return {"pk": {"S": key.pk}, "sk": {"S": key.sk}}

    def read_many(self, keys: Sequence[UnitKey]) -> dict[UnitKey, UnitState]:
        unique = sorted(set(keys))
        found: dict[UnitKey, UnitState] = {key: UnitState(key) for key in unique}
        by_item_key = {(key.pk, key.sk): key for key in unique}
        batches = [
            unique[start : start + BATCH_GET_LIMIT] for start in range(0, len(unique), BATCH_GET_LIMIT)
        ]
        for items in self._run(self._read_batch, batches):
            for item in items:
                key = by_item_key[(item["pk"]["S"], item["sk"]["S"])]
                found[key] = state_from_item(key, item)
        return found

    def _read_batch(self, keys: Sequence[UnitKey]) -> list[dict[str, Any]]:
        """One BatchGetItem's items, its unprocessed keys asked again with backoff."""
        pending: list[dict[str, Any]] = [self._key(k) for k in keys]
        items: list[dict[str, Any]] = []
        for attempt in range(BATCH_GET_ATTEMPTS):
            if attempt:
                self.sleep(0.05 * 2**attempt)  # DynamoDB asks for backoff on unprocessed keys
            answer, pending = self._batch_get(pending)
            items += answer
            if not pending:
                return items
        raise UnitStateUnavailableError(f"BatchGetItem left {len(pending)} keys unprocessed")

    def _batch_get(self, keys: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        try:
            answer = self.client.batch_get_item(
                RequestItems={self.table_name: {"Keys": keys, "ConsistentRead": True}}
            )
        except Exception as exc:  # noqa: BLE001 - any client error means "state unknown"
            raise UnitStateUnavailableError(f"BatchGetItem: {aws_error_code(exc)}") from None
        items: list[dict[str, Any]] = list(answer.get("Responses", {}).get(self.table_name, []))
        unprocessed_table: Mapping[str, Any] = answer.get("UnprocessedKeys", {}).get(self.table_name) or {}
        return items, list(unprocessed_table.get("Keys", []))

    def write(self, key: UnitKey, fields: Mapping[str, FieldState], expected_version: int) -> int | None:
        new_version = expected_version + 1
        now = self.clock()
        values: dict[str, Any] = {
            ":state": {"B": pack_state(fields)},
            ":new": {"N": str(new_version)},
            ":mdt": {"S": key.mdt_id},
            ":guild": {"S": key.guild_id},
            ":expires": {"N": str(int(now.timestamp()) + self.ttl_seconds)},
            ":now": {"S": now.isoformat()},
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
                UpdateExpression=(
                    "SET #state = :state, version = :new, mdt_id = :mdt, guild_id = :guild,"
                    " expires_at = :expires, updated_at = :now"
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=values,
            ),
            lambda code: UnitStateUnavailableError(f"UpdateItem {key.pk}/{key.sk}: {code}"),
        )
        return None if answer is None else new_version

    def write_many(self, writes: Sequence[StateWrite], can_start: Callable[[], bool]) -> StateWrites:
        return write_each(self.write, writes, can_start, run=self._run)


def pack_state(fields: Mapping[str, FieldState]) -> bytes:
    """The fields' JSON, compressed: an item's write costs a request unit per KB, and the JSON (each
    field's sent values and what each source said, with their tie-breaks) repeats itself a great deal
    (about 4.7 KB becomes under 1 KB)."""
    return zlib.compress(fields_to_json(fields).encode("utf-8"), 9)


def unpack_state(attribute: Mapping[str, Any]) -> str | None:
    """The fields' JSON from the `state` attribute: compressed binary, or the plain string an earlier
    release wrote."""
    if "B" in attribute:
        return zlib.decompress(attribute["B"]).decode("utf-8")
    text = attribute.get("S")
    return text if isinstance(text, str) else None


def state_from_item(key: UnitKey, item: Mapping[str, Any]) -> UnitState:
    text = unpack_state(item.get("state", {}))
    return UnitState(
        key=key,
        fields=fields_from_json(text) if text else {},
        version=int(item.get("version", {}).get("N", "0")),
    )
