"""The partner's shared schedule (relay.ports.pacing) on the state table: one item `pk = pace#northca`,
`sk = slots`, whose `tat` (epoch seconds) each reservation moves with a conditional UpdateItem, and
one item per 5-minute window counting throttled answers (`sk = throttled#<window>`). Both expire by
TTL a day after their last write.

A reservation is one write in the common case: the last `tat` this container saw says which of the
two forms to try first (idle: `tat` in the past, set to now + interval; busy: `tat` ahead, moved one
interval further if the wait fits). A conditional write that fails is billed too, and then the other
form is tried; a busy schedule past the wait allowed is read once to say how long the wait would be.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from relay.aws import aws_error_code
from relay.errors import PacingUnavailableError
from relay.models import PACE_KEY

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SLOTS = "slots"
CONDITION_FAILED = "ConditionalCheckFailedException"
EXPIRES_AFTER_SECONDS = 86400


class DynamoSlotStore:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self.table_name = table_name
        self.client = client
        self.seen_tat = 0.0  # the last `tat` this container wrote or read: which form to try first

    def _key(self, sk: str) -> dict[str, Any]:
        return {"pk": {"S": PACE_KEY}, "sk": {"S": sk}}

    def _update(self, **params: Any) -> dict[str, Any] | None:
        """The UpdateItem's answer, None when its condition failed."""
        try:
            answer: Any = self.client.update_item(TableName=self.table_name, **params)
        except Exception as exc:  # noqa: BLE001 - a failed condition is an answer; anything else an outage
            code = aws_error_code(exc)
            if code == CONDITION_FAILED:
                return None
            raise PacingUnavailableError(f"UpdateItem {PACE_KEY}: {code}") from None
        return dict(answer)

    def _idle(self, now: float, interval: float) -> bool:
        answer = self._update(
            Key=self._key(SLOTS),
            UpdateExpression="SET tat = :next, expires_at = :expires",
            ConditionExpression="attribute_not_exists(tat) OR tat <= :now",
            ExpressionAttributeValues={
                ":next": {"N": repr(now + interval)},
                ":now": {"N": repr(now)},
                ":expires": {"N": str(int(now) + EXPIRES_AFTER_SECONDS)},
            },
        )
        if answer is not None:
            self.seen_tat = now + interval
        return answer is not None

    def _busy(self, now: float, interval: float, tolerance: float, max_wait: float) -> float | None:
        """The wait for the slot taken, or None when the schedule is idle or further than `max_wait`."""
        answer = self._update(
            Key=self._key(SLOTS),
            UpdateExpression="SET tat = tat + :interval, expires_at = :expires",
            ConditionExpression="tat > :now AND tat <= :limit",
            ExpressionAttributeValues={
                ":interval": {"N": repr(interval)},
                ":now": {"N": repr(now)},
                ":limit": {"N": repr(now + tolerance + max_wait)},
                ":expires": {"N": str(int(now) + EXPIRES_AFTER_SECONDS)},
            },
            ReturnValues="UPDATED_OLD",
        )
        if answer is None:
            return None
        tat = float(answer["Attributes"]["tat"]["N"])
        self.seen_tat = tat + interval
        return max(0.0, tat - tolerance - now)

    def _current(self) -> float:
        try:
            item = self.client.get_item(TableName=self.table_name, Key=self._key(SLOTS), ConsistentRead=True)
        except Exception as exc:  # noqa: BLE001
            raise PacingUnavailableError(f"GetItem {PACE_KEY}: {aws_error_code(exc)}") from None
        tat = item.get("Item", {}).get("tat", {}).get("N")
        return float(tat) if tat is not None else 0.0

    def reserve(self, now: float, interval: float, tolerance: float, max_wait: float) -> float:
        if self.seen_tat > now:
            wait = self._busy(now, interval, tolerance, max_wait)
            if wait is not None:
                return wait
        if self._idle(now, interval):
            return 0.0
        wait = self._busy(now, interval, tolerance, max_wait)
        if wait is not None:
            return wait
        tat = self.seen_tat = self._current()
        if tat <= now:  # expired meanwhile (TTL): idle after all
            return 0.0 if self._idle(now, interval) else max_wait + interval
        return max(0.0, tat - tolerance - now)  # longer than max_wait: nothing taken

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
        self.seen_tat = max(self.seen_tat, until)

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
