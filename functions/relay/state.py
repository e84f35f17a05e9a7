"""Unit state: each unit's newest known value of every field, with the stamp that made it newest.

One item per unit in the unit-state table, `pk = unit#<mdt_id>#<guild_id>`, `sk = <unit id>` (other
parts keep `roster#...` and `cache#...` items in the same table). Besides the fields, an item holds:

- `version`: bumped by every change of its content, and by `mark_dirty`;
- `sent_version`: the version last confirmed written to Northca.

Every write is conditional on the version the writer read, so two consumers can never overwrite a
newer value with an older one; `mark_sent` only succeeds while nobody has written since the read.
The consumer's protocol on top of these operations is described in docs/consumer.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from relay.merge import FieldStamp
from relay.models import unit_record

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

UNIT_PREFIX = "unit#"
DEFAULT_TTL_DAYS = 7
BATCH_GET_LIMIT = 100  # DynamoDB's BatchGetItem limit
BATCH_GET_ATTEMPTS = 5


class StateStoreError(Exception):
    """The state store could not be read or written; the units involved are not written this time."""


@dataclass(frozen=True, order=True)
class UnitKey:
    mdt_id: str
    guild_id: str
    unit_id: str

    @property
    def pk(self) -> str:
        return f"{UNIT_PREFIX}{self.mdt_id}#{self.guild_id}"

    @property
    def sk(self) -> str:
        return self.unit_id


@dataclass(frozen=True)
class UnitState:
    """What the store holds for one unit; `version` 0 means there is no item yet."""

    key: UnitKey
    fields: Mapping[str, FieldStamp] = field(default_factory=dict)
    version: int = 0
    sent_version: int = 0

    @property
    def unsent(self) -> bool:
        return self.version > self.sent_version

    def record(self) -> dict[str, Any]:
        """The full partner record of this version (every writable field present)."""
        return unit_record(self.key.unit_id, {name: s.value for name, s in self.fields.items()})


class UnitStateStore(Protocol):
    """The conditional-write port the consumer needs. DynamoDB and memory implement the same contract."""

    def read_many(self, keys: Sequence[UnitKey]) -> dict[UnitKey, UnitState]:
        """Strongly consistent reads; a unit without an item comes back as version 0."""
        ...

    def write_fields(
        self, key: UnitKey, fields: Mapping[str, FieldStamp], expected_version: int
    ) -> int | None:
        """Replace the fields if the item is still at `expected_version`: the new version, or None."""
        ...

    def mark_sent(self, key: UnitKey, version: int) -> bool:
        """Record `version` as written to Northca, only if it is still the current version."""
        ...

    def mark_dirty(self, key: UnitKey) -> None:
        """Bump the version without changing content, so whoever handles the unit next re-sends it."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class InMemoryUnitStateStore:
    """The same contract held in a dict (atomic under a lock): for tests, the bench and tools."""

    def __init__(self) -> None:
        self.items: dict[UnitKey, UnitState] = {}
        self._lock = threading.Lock()

    def read_many(self, keys: Sequence[UnitKey]) -> dict[UnitKey, UnitState]:
        with self._lock:
            return {key: self.items.get(key, UnitState(key)) for key in keys}

    def write_fields(
        self, key: UnitKey, fields: Mapping[str, FieldStamp], expected_version: int
    ) -> int | None:
        with self._lock:
            current = self.items.get(key, UnitState(key))
            if current.version != expected_version:
                return None
            self.items[key] = replace(current, fields=dict(fields), version=current.version + 1)
            return current.version + 1

    def mark_sent(self, key: UnitKey, version: int) -> bool:
        with self._lock:
            current = self.items.get(key)
            if current is None or current.version != version:
                return False
            self.items[key] = replace(current, sent_version=version)
            return True

    def mark_dirty(self, key: UnitKey) -> None:
        with self._lock:
            current = self.items.get(key)
            if current is not None:
                self.items[key] = replace(current, version=current.version + 1)


# --- DynamoDB ------------------------------------------------------------------------------------


def stamp_to_item(stamp: FieldStamp) -> dict[str, Any]:
    value: dict[str, Any] = {"NULL": True} if stamp.value is None else {"S": stamp.value}
    return {"M": {"value": value, "at": {"S": stamp.at.isoformat()}, "tiebreak": {"S": stamp.tiebreak}}}


def stamp_from_item(item: Mapping[str, Any]) -> FieldStamp:
    attributes = item["M"]
    value = attributes["value"]
    return FieldStamp(
        value=None if value.get("NULL") else str(value["S"]),
        at=datetime.fromisoformat(attributes["at"]["S"]),
        tiebreak=str(attributes["tiebreak"]["S"]),
    )


def state_from_item(key: UnitKey, item: Mapping[str, Any]) -> UnitState:
    fields = {name: stamp_from_item(value) for name, value in item.get("fields", {}).get("M", {}).items()}
    return UnitState(
        key=key,
        fields=fields,
        version=int(item.get("version", {}).get("N", "0")),
        sent_version=int(item.get("sent_version", {}).get("N", "0")),
    )


def _is_conditional_failure(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code == "ConditionalCheckFailedException"


class DynamoUnitStateStore:
    """The port on the unit-state table: BatchGetItem for reads, one conditional UpdateItem per write."""

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient,
        *,
        ttl_days: int = DEFAULT_TTL_DAYS,
        clock: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table_name = table_name
        self.client = client
        self.ttl_seconds = ttl_days * 86400
        self.clock = clock
        self.sleep = sleep

    @staticmethod
    def _key(key: UnitKey) -> dict[str, Any]:
        return {"pk": {"S": key.pk}, "sk": {"S": key.sk}}

    def read_many(self, keys: Sequence[UnitKey]) -> dict[UnitKey, UnitState]:
        unique = sorted(set(keys))
        found: dict[UnitKey, UnitState] = {key: UnitState(key) for key in unique}
        by_item_key = {(key.pk, key.sk): key for key in unique}
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            pending: list[dict[str, Any]] = [self._key(k) for k in unique[start : start + BATCH_GET_LIMIT]]
            for attempt in range(BATCH_GET_ATTEMPTS):
                if attempt:
                    self.sleep(0.05 * 2**attempt)  # DynamoDB asks for backoff on unprocessed keys
                items, pending = self._batch_get(pending)
                for item in items:
                    key = by_item_key[(item["pk"]["S"], item["sk"]["S"])]
                    found[key] = state_from_item(key, item)
                if not pending:
                    break
            else:
                raise StateStoreError(f"BatchGetItem left {len(pending)} keys unprocessed")
        return found

    def _batch_get(self, keys: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        try:
            answer = self.client.batch_get_item(
                RequestItems={self.table_name: {"Keys": keys, "ConsistentRead": True}}
            )
        except Exception as exc:  # noqa: BLE001 - any client error means "state unknown"
            raise StateStoreError(f"BatchGetItem: {type(exc).__name__}") from None
        items: list[dict[str, Any]] = list(answer.get("Responses", {}).get(self.table_name, []))
        unprocessed_table: Mapping[str, Any] = answer.get("UnprocessedKeys", {}).get(self.table_name) or {}
        return items, list(unprocessed_table.get("Keys", []))

    def write_fields(
        self, key: UnitKey, fields: Mapping[str, FieldStamp], expected_version: int
    ) -> int | None:
        new_version = expected_version + 1
        values: dict[str, Any] = {
            ":fields": {"M": {name: stamp_to_item(s) for name, s in fields.items()}},
            ":new": {"N": str(new_version)},
            ":zero": {"N": "0"},
            ":mdt": {"S": key.mdt_id},
            ":guild": {"S": key.guild_id},
            ":expires": {"N": str(int(self.clock().timestamp()) + self.ttl_seconds)},
            ":now": {"S": self.clock().isoformat()},
        }
        if expected_version == 0:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "version = :expected"
            values[":expected"] = {"N": str(expected_version)}
        written = self._conditional_update(
            key,
            UpdateExpression=(
                "SET #fields = :fields, version = :new,"
                " sent_version = if_not_exists(sent_version, :zero), mdt_id = :mdt,"
                " guild_id = :guild, expires_at = :expires, updated_at = :now"
            ),
            ConditionExpression=condition,
            ExpressionAttributeNames={"#fields": "fields"},
            ExpressionAttributeValues=values,
        )
        return new_version if written else None

    def mark_sent(self, key: UnitKey, version: int) -> bool:
        return self._conditional_update(
            key,
            UpdateExpression="SET sent_version = :v",
            ConditionExpression="version = :v",
            ExpressionAttributeValues={":v": {"N": str(version)}},
        )

    def mark_dirty(self, key: UnitKey) -> None:
        # False means no item: nothing was ever written, so nothing can be stale.
        self._conditional_update(
            key,
            UpdateExpression="ADD version :one",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )

    def _conditional_update(self, key: UnitKey, **request: Any) -> bool:
        """UpdateItem on one unit: False when its condition failed, StateStoreError on anything else."""
        try:
            self.client.update_item(TableName=self.table_name, Key=self._key(key), **request)
        except Exception as exc:  # noqa: BLE001 - a lost race is an answer; anything else is an outage
            if _is_conditional_failure(exc):
                return False
            raise StateStoreError(f"UpdateItem {key.pk}/{key.sk}: {type(exc).__name__}") from None
        return True


def unit_keys(mdt_id: str, guild_id: str, unit_ids: Iterable[str]) -> list[UnitKey]:
    return [UnitKey(mdt_id, guild_id, unit_id) for unit_id in unit_ids]
