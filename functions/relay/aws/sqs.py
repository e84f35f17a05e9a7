"""SQS: the publisher of queue messages, and the consumer's two calls on its own queue and its DLQ."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from relay.aws import aws_error_code
from relay.errors import QueueUnavailableError
from relay.messages import QueueMessage
from relay.observability import logger
from relay.ports.queue import DeadLetter

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SQS_MAX_BATCH_ENTRIES = 10
SQS_MAX_BATCH_BYTES = 1024 * 1024
SQS_MAX_DELAY_SECONDS = 900
# The message attribute a dead letter carries its reason in (`relay redrive --list` prints it).
REASON_ATTRIBUTE = "relay-reason"
MAX_REASON_CHARS = 1024


def batches(bodies: Sequence[str]) -> list[list[tuple[str, str]]]:
    """Entries (id, body) grouped by SQS's limits on count and total size."""
    groups: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    size = 0
    for index, body in enumerate(bodies):
        length = len(body.encode())
        if current and (len(current) == SQS_MAX_BATCH_ENTRIES or size + length > SQS_MAX_BATCH_BYTES):
            groups.append(current)
            current, size = [], 0
        current.append((f"m{index}", body))
        size += length
    if current:
        groups.append(current)
    return groups


class SqsPublisher:
    """relay.messages.Publisher: SendMessageBatch in groups within SQS's limits, failed entries retried."""

    def __init__(
        self,
        queue_url: str,
        client: SQSClient,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.queue_url = queue_url
        self.client = client
        self.attempts = attempts
        self.sleep = sleep

    def send(self, messages: Sequence[QueueMessage], delay_seconds: int = 0) -> int:
        """Enqueue every message or raise QueueUnavailableError. Returns the number sent."""
        for group in batches([m.body() for m in messages]):
            self._send_group(group, min(max(delay_seconds, 0), SQS_MAX_DELAY_SECONDS))
        return len(messages)

    def _send_group(self, group: list[tuple[str, str]], delay_seconds: int = 0) -> None:
        pending = dict(group)
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(0.05 * 2**attempt)
            try:
                response = self.client.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": entry_id, "MessageBody": body, "DelaySeconds": delay_seconds}
                        for entry_id, body in pending.items()
                    ],
                )
            except Exception as exc:  # noqa: BLE001 - any client error means "not queued": retry, then 503
                logger.warning(
                    "SendMessageBatch failed", extra={"error": aws_error_code(exc), "attempt": attempt}
                )
                continue
            # SendMessageBatch answers 200 even when some entries failed: retry exactly those.
            failed = {entry["Id"] for entry in response.get("Failed", [])}
            pending = {entry_id: body for entry_id, body in pending.items() if entry_id in failed}
            if not pending:
                return
        raise QueueUnavailableError()


class SqsVisibility:
    """relay.ports.queue.VisibilityPort: ChangeMessageVisibilityBatch on the consumer's own queue."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def delay(self, receipt_handles: Sequence[str], seconds: int) -> None:
        for start in range(0, len(receipt_handles), SQS_MAX_BATCH_ENTRIES):
            group = receipt_handles[start : start + SQS_MAX_BATCH_ENTRIES]
            try:
                self.client.change_message_visibility_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                        for i, handle in enumerate(group)
                    ],
                )
            except Exception as exc:  # noqa: BLE001 - the messages still come back at the queue's own timeout
                logger.warning("could not delay throttled messages", extra={"error": aws_error_code(exc)})


class SqsDeadLetters:
    """relay.ports.queue.DeadLetterPort: SendMessageBatch to the DLQ, the body unchanged and the reason as a
    message attribute."""

    def __init__(self, client: SQSClient, dlq_url: str) -> None:
        self.client = client
        self.dlq_url = dlq_url

    def send(self, letters: Sequence[DeadLetter]) -> set[str]:
        sent: set[str] = set()
        for start in range(0, len(letters), SQS_MAX_BATCH_ENTRIES):
            group = letters[start : start + SQS_MAX_BATCH_ENTRIES]
            try:
                answer = self.client.send_message_batch(
                    QueueUrl=self.dlq_url,
                    Entries=[
                        {
                            "Id": str(i),
                            "MessageBody": letter.body,
                            "MessageAttributes": {
                                REASON_ATTRIBUTE: {
                                    "DataType": "String",
                                    "StringValue": letter.reason[:MAX_REASON_CHARS],
                                }
                            },
                        }
                        for i, letter in enumerate(group)
                    ],
                )
            except Exception as exc:  # noqa: BLE001 - not sent: they reach the DLQ through maxReceiveCount
                logger.warning("could not dead-letter messages", extra={"error": aws_error_code(exc)})
                continue
            sent |= {group[int(entry["Id"])].message_id for entry in answer.get("Successful", [])}
        return sent
