"""Putting queue messages on SQS: batches of at most 10 entries and 1 MiB, failed entries retried.

Bodies are ASCII JSON (every other character escaped): SQS refuses some characters a JSON string may
hold (U+FFFE, U+FFFF), and a sender's valid payload must never become a queue error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from relay.errors import QueueUnavailableError
from relay.models import QueueMessage, UnitChange
from relay.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SQS_MAX_BATCH_ENTRIES = 10
SQS_MAX_BATCH_BYTES = 1024 * 1024
# Each message stays well under SQS's 1 MiB so a batch holds several and the consumer's 6 MB invoke fits.
MAX_MESSAGE_BYTES = 128 * 1024


def _ascii_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def queue_body(message: QueueMessage) -> str:
    """The SQS body of a message: its JSON with only ASCII characters (so its length is its size)."""
    return _ascii_json(message.model_dump(mode="json"))


def split_messages(template: QueueMessage, max_bytes: int = MAX_MESSAGE_BYTES) -> list[QueueMessage]:
    """Split a message's changes, in order, into as few messages as fit `max_bytes` each.

    Linear: the body is the envelope plus each change's JSON and a comma between them, so sizes add up
    without serialising every candidate. A single change larger than `max_bytes` (impossible with
    the model's length limits) would still travel alone rather than be dropped.
    """
    if len(queue_body(template)) <= max_bytes:
        return [template]  # the common case: one serialisation, no per-change sizes
    envelope = len(queue_body(template.model_copy(update={"changes": []})))
    pieces: list[list[UnitChange]] = []
    current: list[UnitChange] = []
    size = envelope
    for change in template.changes:
        length = len(_ascii_json(change.model_dump(mode="json")))
        extra = length + 1 if current else length
        if current and size + extra > max_bytes:
            pieces.append(current)
            current, size, extra = [], envelope, length
        current.append(change)
        size += extra
    pieces.append(current)
    return [template.model_copy(update={"changes": changes}) for changes in pieces]


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

    def send(self, messages: Sequence[QueueMessage]) -> int:
        """Enqueue every message or raise QueueUnavailableError. Returns the number sent."""
        for group in batches([queue_body(m) for m in messages]):
            self._send_group(group)
        return len(messages)

    def _send_group(self, group: list[tuple[str, str]]) -> None:
        pending = dict(group)
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(0.05 * 2**attempt)
            try:
                response = self.client.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": entry_id, "MessageBody": body} for entry_id, body in pending.items()],
                )
            except Exception as exc:  # noqa: BLE001 - any client error means "not queued": retry, then 503
                logger.warning(
                    "SendMessageBatch failed", extra={"error": type(exc).__name__, "attempt": attempt}
                )
                continue
            # SendMessageBatch answers 200 even when some entries failed: retry exactly those.
            failed = {entry["Id"] for entry in response.get("Failed", [])}
            pending = {entry_id: body for entry_id, body in pending.items() if entry_id in failed}
            if not pending:
                return
        raise QueueUnavailableError()
