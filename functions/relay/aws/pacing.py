"""The partner's shared schedule (relay.ports.pacing) on the state table: one item `pk = pace#northca`,
`sk = slots`, whose `tat` (epoch seconds) each reservation moves, and one item per 5-minute window
counting throttled answers (`sk = throttled#<window>`). Both expire by TTL a day after their last write.

A reservation reads `tat` (one strongly consistent GetItem), computes the GCRA's next `tat` itself
(DynamoDB's update expressions have no max()), and writes it on condition that `tat` is still what it
read: one read and one write a call, whatever the timing (a lost race reads and tries again). A slot
further than the caller can wait is not written at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from relay.aws import aws_error_code, unless_condition_failed
from relay.errors import PacingUnavailableError
from relay.models import PACE_KEY

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SLOTS = "slots"
# Reservations lost to another consumer's in a row before the call goes unpaced (fail open).
RACES = 8
EXPIRES_AFTER_SECONDS = 86400


class DynamoSlotStore:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self.table_name = table_name
        self.client = client

    def _key(self, sk: str) -> dict[str, Any]:
        return {"pk": {"S": PACE_KEY}, "sk": {"S": sk}}

    def _update(self, **params: Any) -> dict[str, Any] | None:
        """The UpdateItem's answer, None when its condition failed."""
        answer: Any = unless_condition_failed(
            lambda: self.client.update_item(TableName=self.table_name, **params),
            lambda code: PacingUnavailableError(f"UpdateItem {PACE_KEY}: {code}"),
        )
        return None if answer is None else dict(answer)

    def _current(self) -> str | None:
        """`tat` as stored (its number's text, which the write's condition compares), or None."""
        try:
            item = self.client.get_item(TableName=self.table_name, Key=self._key(SLOTS), ConsistentRead=True)
        except Exception as exc:  # noqa: BLE001
            raise PacingUnavailableError(f"GetItem {PACE_KEY}: {aws_error_code(exc)}") from None
        tat = item.get("Item", {}).get("tat", {}).get("N")
        return str(tat) if tat is not None else None

    def reserve(
        self, clock: Callable[[], float], interval: float, tolerance: float, max_wait: float
    ) -> float:
        for _ in range(RACES):
            seen = self._current()
            now = clock()  # after the read: a reservation written later never has an earlier instant
            tat = float(seen) if seen is not None else now
            wait = max(0.0, tat - tolerance - now)
            if wait > max_wait:
                return wait  # not taken: nothing written
            values: dict[str, Any] = {
                ":next": {"N": repr(max(tat, now) + interval)},
                ":expires": {"N": str(int(now) + EXPIRES_AFTER_SECONDS)},
            }
            if seen is None:
                condition = "attribute_not_exists(tat)"
            else:
                condition = "tat = :seen"
                values[":seen"] = {"N": seen}
            answer = self._update(
                Key=self._key(SLOTS),
                UpdateExpression="SET tat = :next, expires_at = :expires",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
            if answer is not None:
                return wait
        raise PacingUnavailableError(f"{PACE_KEY}: lost {RACES} races for a slot in a row")

    def hold_until(self, until: float) -> None:
        self._update(
            Key=self._key(SLOTS),
            UpdateExpression="SET tat = :until, expires_at = :expires",
            ConditionExpression="attribute_not_exists(tat) OR tat < :until",
            ExpressionAttributeValues={
                ":until": {"N": repr(until)},
                ":expires": {"N": str(int(until) + EXPIRES_AFTER_SECONDS)},
            },
        )

    def count_throttle(self, now: float, window_seconds: int) -> int:
        window = int(now // window_seconds)
        answer = self._update(
            Key=self._key(f"throttled#{window}"),
            UpdateExpression="ADD throttled :one SET expires_at = :expires",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":expires": {"N": str(int(now) + EXPIRES_AFTER_SECONDS)},
            },
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["throttled"]["N"]) if answer else 0
