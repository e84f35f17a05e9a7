"""The moves behind `relay redrive`: the dead-letter queue's messages back to the queue they came from,
and a read of them that moves nothing (`--list`). The SQS client is passed in.

Where SQS has it, this starts a message move task (StartMessageMoveTask), and does nothing when one is
already running for the DLQ. Where it does not (moto, some emulators), it moves the messages itself:
receive from the DLQ, send to the source queue, and delete from the DLQ only what was sent, so a
message is never lost (at worst it is in both queues, which the consumer's merge makes harmless).
Redriven messages get new message ids and receive counts; the consumer keys on unit state, not ids.

The DLQ has two source queues: the webhooks' and the calls' and panics' (docs/emergencies.md). The
webhook queue is the destination unless one is named; moving messages itself, the fallback sends each
call or panic back to the emergency queue (a move task sends all to one queue: the consumer reads a
call or panic on either, on the webhook queue after its batching window).

A dead-lettered panic is left in the DLQ when older than `max_panic_age` (10 minutes unless asked):
sent an hour late it would alarm a dispatcher for nothing. Its age is the time since the relay received
it (the body's `received_at`; the DLQ's SentTimestamp when the body has none). Any message whose body
holds panics counts, whatever else it holds. A move task cannot choose, so when the DLQ holds an old
panic the messages are moved here instead, and the old panics made visible again in the DLQ.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from relay.aws.sqs import REASON_ATTRIBUTE

UNSUPPORTED_CODES = ("NotImplemented", "Unsupported", "InvalidAction", "UnknownOperation")
# A panic redriven later than this would alarm a dispatcher long after the unit needed help.
MAX_PANIC_AGE = timedelta(minutes=10)


class RedriveError(Exception):
    """The redrive cannot run as asked (no source queue found, ...)."""


@dataclass(frozen=True)
class RedriveResult:
    mode: str  # "move-task", "skipped" (a task is already running) or "fallback"
    moved: int = 0
    task_handle: str | None = None
    detail: str = ""
    # The old panics left in the DLQ: (message id, age).
    left_out: list[tuple[str, timedelta]] = field(default_factory=list)


def _unsupported(exc: Exception) -> bool:
    """True when the endpoint lacks the message move task API (moto raises NotImplementedError)."""
    if isinstance(exc, NotImplementedError):
        return True
    response = getattr(exc, "response", None)
    code = str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
    # moto's server answers an action it lacks with a 500 page saying so
    return any(part in code for part in UNSUPPORTED_CODES) or "has not been implemented" in str(exc)


def queue_arn(sqs: Any, queue_url: str) -> str:
    return str(
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    )


def _sources(sqs: Any, dlq_url: str) -> tuple[list[str], list[str]]:
    """The DLQ's source queues: (the others, the emergency queue's), told apart by name (the template's
    EmergencyQueue, relay local's northca-relay-emergency-queue)."""
    urls = [str(u) for u in sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", [])]
    urgent = [u for u in urls if "mergency" in u.rsplit("/", 1)[-1]]
    return [u for u in urls if u not in urgent], urgent


def source_queue_url(sqs: Any, dlq_url: str) -> str:
    others, _ = _sources(sqs, dlq_url)
    if len(others) != 1:
        raise RedriveError(f"{dlq_url} is the DLQ of {len(others)} queues: name the source with --queue-url")
    return others[0]


def emergency_queue_url(sqs: Any, dlq_url: str) -> str | None:
    """The calls' and panics' queue among the DLQ's sources, if it has one."""
    try:
        _, urgent = _sources(sqs, dlq_url)
    except Exception:  # noqa: BLE001 - an endpoint without the call: every message goes to the one target
        return None
    return urgent[0] if len(urgent) == 1 else None


def is_emergency(body: str) -> bool:
    """A message of calls or panics (relay.messages), read leniently: a dead letter may be anything."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and bool(data.get("calls") or data.get("panics"))


def panic_age(message: dict[str, Any], now: datetime) -> timedelta | None:
    """How long ago the relay received the panic a dead letter holds; None when it holds none. Read
    leniently (a dead letter may be anything): a body with a non-empty `panics` list is a panic."""
    try:
        body = json.loads(message.get("Body", ""))
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("panics"), list) or not body["panics"]:
        return None
    received: datetime | None = None
    try:
        received = datetime.fromisoformat(str(body.get("received_at")))
    except ValueError:
        received = None
    if received is None or received.tzinfo is None:
        sent_ms = int(message.get("Attributes", {}).get("SentTimestamp", "0") or 0)
        received = datetime.fromtimestamp(sent_ms / 1000, UTC) if sent_ms else now
    return max(timedelta(0), now - received)


def _release(sqs: Any, dlq_url: str, handles: list[str]) -> None:
    """Make these DLQ messages visible again at once."""
    for start in range(0, len(handles), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=dlq_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for i, handle in enumerate(handles[start : start + 10])
            ],
        )


def move_messages(
    sqs: Any,
    dlq_url: str,
    source_url: str,
    limit: int | None = None,
    emergency_url: str | None = None,
    leave: Callable[[dict[str, Any]], bool] | None = None,
    left: list[dict[str, Any]] | None = None,
) -> int:
    """Receive from the DLQ, send to the source (a call or panic to `emergency_url` when given), delete
    what was sent. Returns the number moved. A message `leave` picks stays in the DLQ (appended to
    `left`), visible again once the move is over."""
    moved = 0
    kept: list[dict[str, Any]] = []
    try:
        while limit is None or moved < limit:
            batch = _receive(sqs, dlq_url, 10 if limit is None else min(10, limit - moved))
            if not batch:
                break
            messages = [m for m in batch if leave is None or not leave(m)]
            kept += [m for m in batch if leave is not None and leave(m)]
            if messages:
                moved += _move(sqs, dlq_url, source_url, emergency_url, messages)
    finally:
        _release(sqs, dlq_url, [m["ReceiptHandle"] for m in kept])
        if left is not None:
            left += kept
    return moved


def _receive(sqs: Any, dlq_url: str, wanted: int) -> list[dict[str, Any]]:
    answer = sqs.receive_message(
        QueueUrl=dlq_url,
        MaxNumberOfMessages=wanted,
        WaitTimeSeconds=0,
        VisibilityTimeout=60,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["SentTimestamp"],
    )
    return list(answer.get("Messages", []))


def _move(
    sqs: Any, dlq_url: str, source_url: str, emergency_url: str | None, messages: list[dict[str, Any]]
) -> int:
    """Send one received batch on and delete from the DLQ what was sent; the number moved."""
    by_target: dict[str, list[dict[str, Any]]] = {}
    for i, message in enumerate(messages):
        entry: dict[str, Any] = {"Id": str(i), "MessageBody": message["Body"]}
        if message.get("MessageAttributes"):
            entry["MessageAttributes"] = message["MessageAttributes"]
        urgent = emergency_url is not None and is_emergency(message["Body"])
        by_target.setdefault(emergency_url if urgent and emergency_url else source_url, []).append(entry)
    sent: set[str] = set()
    for url, entries in by_target.items():
        answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        sent |= {entry["Id"] for entry in answer.get("Successful", [])}
    # Only what reached the source queue leaves the DLQ; the rest becomes visible there again.
    done = [
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages) if str(i) in sent
    ]
    if done:
        sqs.delete_message_batch(QueueUrl=dlq_url, Entries=done)
    if len(done) < len(messages):
        raise RedriveError(
            f"the source queue refused {len(messages) - len(done)} messages; they stay in the DLQ"
        )
    return len(done)


def redrive(
    sqs: Any,
    dlq_url: str,
    source_url: str | None = None,
    *,
    limit: int | None = None,
    use_move_task: bool = True,
    max_panic_age: timedelta | None = MAX_PANIC_AGE,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RedriveResult:
    """`max_panic_age` None: every message, panics whatever their age."""
    dlq = queue_arn(sqs, dlq_url)
    # Named even when it is the DLQ's only source: the consumer sends the messages it refuses straight
    # to the DLQ, and a move task without a destination cannot tell where those came from.
    target = source_url or source_queue_url(sqs, dlq_url)
    at = now()

    def old_panic(message: dict[str, Any]) -> bool:
        age = panic_age(message, at)
        return max_panic_age is not None and age is not None and age > max_panic_age

    if use_move_task and max_panic_age is not None:
        # A move task moves everything: with an old panic in the DLQ, the messages are moved here.
        use_move_task = not any(old_panic(letter.message) for letter in _read(sqs, dlq_url, None))
    if use_move_task:
        try:
            tasks = sqs.list_message_move_tasks(SourceArn=dlq, MaxResults=10).get("Results", [])
            running = [t for t in tasks if t.get("Status") == "RUNNING"]
            if running:
                return RedriveResult(
                    "skipped", task_handle=running[0].get("TaskHandle"), detail="a task is running"
                )
            started = sqs.start_message_move_task(SourceArn=dlq, DestinationArn=queue_arn(sqs, target))
            return RedriveResult("move-task", task_handle=started.get("TaskHandle"))
        except Exception as exc:  # only "not supported here" falls back; the rest is raised
            if not _unsupported(exc):
                raise
    urgent = emergency_queue_url(sqs, dlq_url)
    left: list[dict[str, Any]] = []
    moved = move_messages(
        sqs, dlq_url, target, limit, urgent, old_panic if max_panic_age is not None else None, left
    )
    detail = f"moved to {target}" + (f" (calls and panics to {urgent})" if urgent else "")
    ages = [(m["MessageId"], panic_age(m, at) or timedelta(0)) for m in left]
    return RedriveResult("fallback", moved=moved, detail=detail, left_out=ages)


@dataclass(frozen=True)
class DeadLetterView:
    message_id: str
    sent_at: str
    webhook_id: str
    source: str
    reason: str
    panic_age: timedelta | None = None  # None: the message holds no panic
    message: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def list_dead_letters(
    sqs: Any, dlq_url: str, limit: int | None = None, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> list[DeadLetterView]:
    """Read the DLQ without moving anything: each message is made visible again at once."""
    return _read(sqs, dlq_url, limit, now())


def _read(sqs: Any, dlq_url: str, limit: int | None, at: datetime | None = None) -> list[DeadLetterView]:
    at = at or datetime.now(UTC)
    seen: list[DeadLetterView] = []
    handles: list[str] = []
    try:
        while limit is None or len(seen) < limit:
            batch = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=30,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["SentTimestamp"],
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                handles.append(message["ReceiptHandle"])
                seen.append(_view(message, at))
    finally:
        _release(sqs, dlq_url, handles)
    return seen[:limit] if limit is not None else seen


def _view(message: dict[str, Any], at: datetime) -> DeadLetterView:
    try:
        body = json.loads(message["Body"])
    except (ValueError, RecursionError):  # a dead letter may be anything
        body = None
    fields = body if isinstance(body, dict) else {}
    attribute = message.get("MessageAttributes", {}).get(REASON_ATTRIBUTE, {})
    sent_ms = int(message.get("Attributes", {}).get("SentTimestamp", "0"))
    return DeadLetterView(
        message_id=message["MessageId"],
        sent_at=datetime.fromtimestamp(sent_ms / 1000, UTC).isoformat(timespec="seconds"),
        webhook_id=str(fields.get("webhook_id") or "-"),
        source=str(fields.get("source") or "-"),
        # No attribute: it came through maxReceiveCount (the consumer's logs have why).
        reason=attribute.get("StringValue", "failed maxReceiveCount times (see the consumer's logs)"),
        panic_age=panic_age(message, at),
        message=message,
    )


def age_text(age: timedelta) -> str:
    """`45s`, `12m`, `3h 5m`, `2d 4h`: how long ago, to the unit an operator reads."""
    seconds = int(age.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"
