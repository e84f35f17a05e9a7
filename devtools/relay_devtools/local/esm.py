"""An in-process stand-in for Lambda's SQS event source mapping, on any SQS endpoint (moto here).

moto's own mapping invokes one record at a time and ignores partial batch responses, so the local
stack and the tests drive the consumer with this instead. It follows the rules AWS documents:
- a batch is up to `batch_size` messages, gathered for at most `window_seconds` (none: the first
  long poll's answer, the emergency queue's mapping);
- the handler's answer decides what is deleted: no answer, `{}` or an empty/None list = all succeeded;
  a raised exception, a malformed answer, or an empty, None or unknown `itemIdentifier` = all failed;
  otherwise every message but the listed ones is deleted;
- a failed message is left alone: it comes back when its visibility timeout lapses, and SQS moves it
  to the DLQ once it was received `maxReceiveCount` times.

SQS's visibility timeout runs on the wall clock (moto's too). So that tests need not wait for it, the
mapping remembers the receipt of every failed message still in flight, and `expire_visibility()` makes
them visible at once, as if their timeout had lapsed; `drain(expire=True)` does that whenever nothing
else is visible. Receive counts are tracked per message id (`receives`).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from relay_devtools.local.lambda_context import LocalLambdaContext

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class MappingSettings:
    batch_size: int = 100
    window_seconds: float = 5.0
    function_timeout_seconds: float = 60.0


@dataclass
class InvocationResult:
    received: int
    deleted: int
    failed: list[str]
    error: str | None = None


@dataclass
class MappingStats:
    invocations: int = 0
    received: int = 0
    deleted: int = 0
    failed: int = 0
    handler_errors: int = 0
    history: list[InvocationResult] = field(default_factory=list)


def failed_ids(answer: Any, batch_ids: set[str]) -> tuple[set[str], str | None]:
    """Which message ids Lambda treats as failed for this answer, and why when it is all of them."""
    if answer is None:
        return set(), None
    if not isinstance(answer, Mapping):
        return set(batch_ids), "answer is not an object"
    if "batchItemFailures" not in answer:
        return set(), None
    items = answer["batchItemFailures"]
    if items is None or items == []:
        return set(), None
    if not isinstance(items, list):
        return set(batch_ids), "batchItemFailures is not a list"
    failed: set[str] = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not isinstance(identifier, str) or not identifier or identifier not in batch_ids:
            return set(batch_ids), f"invalid itemIdentifier {identifier!r}"
        failed.add(identifier)
    return failed, None


def to_lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", "0"),
            "SenderId": attributes.get("SenderId", "AIDAEXAMPLE"),
            "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0"),
        },
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class SqsEventSourceMapping:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Handler,
        settings: MappingSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.handler = handler
        self.settings = settings
        self.clock = clock
        self.stats = MappingStats()
        self.receives: Counter[str] = Counter()
        # Failed messages still in flight (message id -> receipt handle), for expire_visibility().
        self.in_flight: dict[str, str] = {}
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self.queue_arn = attributes["QueueArn"]
        self.region = self.queue_arn.split(":")[3]

    def gather(self, wait: bool = True) -> list[dict[str, Any]]:
        """Receive up to a batch, for at most the batching window (less when the batch fills). With no
        window (the emergency queue's), one long poll: the batch is what its first answer holds, as
        Lambda invokes as soon as a receive returns messages."""
        if wait and self.settings.window_seconds <= 0:
            received: list[dict[str, Any]] = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.settings.batch_size),
                WaitTimeSeconds=1,
                AttributeNames=["All"],
            ).get("Messages", [])
            for message in received:
                self.receives[message["MessageId"]] += 1
                self.in_flight.pop(message["MessageId"], None)
            return received
        messages: list[dict[str, Any]] = []
        deadline = self.clock() + (self.settings.window_seconds if wait else 0)
        while len(messages) < self.settings.batch_size:
            wanted = min(10, self.settings.batch_size - len(messages))
            remaining = deadline - self.clock()
            received = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=wanted,
                # Whole seconds only: rounding a fraction down to 0 would poll in a tight loop.
                WaitTimeSeconds=max(0, min(1, math.ceil(remaining))) if wait else 0,
                AttributeNames=["All"],
            ).get("Messages", [])
            messages.extend(received)
            for message in received:
                self.receives[message["MessageId"]] += 1
                self.in_flight.pop(message["MessageId"], None)
            if not received and self.clock() >= deadline:
                break
            if not received and not wait:
                break
        return messages

    def invoke(self, messages: list[dict[str, Any]]) -> InvocationResult:
        """Call the handler with one batch and apply Lambda's rules to its answer."""
        records = [to_lambda_record(m, self.queue_arn, self.region) for m in messages]
        handles = {m["MessageId"]: m["ReceiptHandle"] for m in messages}
        context = LocalLambdaContext(
            function_name="consumer", timeout_seconds=self.settings.function_timeout_seconds
        )
        error: str | None = None
        try:
            answer = self.handler({"Records": records}, context)
            json.dumps(answer)  # Lambda serialises the answer; an unserialisable one fails the batch
            failed, error = failed_ids(answer, set(handles))
        except Exception as exc:  # noqa: BLE001 - exactly what Lambda does: the whole batch failed
            failed, error = set(handles), f"{type(exc).__name__}: {exc}"
            self.stats.handler_errors += 1
        done = [mid for mid in handles if mid not in failed]
        for start in range(0, len(done), 10):
            group = done[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": handles[mid]} for i, mid in enumerate(group)],
            )
        self.in_flight.update({mid: handles[mid] for mid in failed})
        result = InvocationResult(len(messages), len(done), sorted(failed), error)
        self.stats.invocations += 1
        self.stats.received += len(messages)
        self.stats.deleted += len(done)
        self.stats.failed += len(failed)
        self.stats.history.append(result)
        return result

    def poll_once(self, wait: bool = True) -> InvocationResult | None:
        messages = self.gather(wait=wait)
        if not messages:
            return None
        return self.invoke(messages)

    def expire_visibility(self) -> int:
        """Make every failed message still in flight visible now; returns how many were."""
        handles = list(self.in_flight.values())
        self.in_flight.clear()
        for start in range(0, len(handles), 10):
            group = handles[start : start + 10]
            # A message already moved or deleted has a stale receipt: that entry fails, the rest go on.
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for i, handle in enumerate(group)
                ],
            )
        return len(handles)

    def drain(self, max_invocations: int = 10_000, *, expire: bool = False) -> int:
        """Invoke until a receive finds nothing visible; returns the number of invocations.

        With `expire`, failed messages are made visible again whenever nothing else is, so the
        queue drains completely (each one ends deleted or, after maxReceiveCount, in the DLQ).
        """
        count = 0
        while count < max_invocations:
            if self.poll_once(wait=False) is not None:
                count += 1
            elif not (expire and self.expire_visibility()):
                break
        return count
