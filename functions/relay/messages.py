"""The queue message: the one contract between what produces unit changes, calls and panics (the
ingress, the ER:LC poller) and the consumer. Built, split and written here, sent through the `Publisher`
port (also here: a port lives with the data it carries), read back by the consumer.

```json
{"v": 1, "source": "cad", "mdt_id": "...", "guild_id": "...", "actor": "2222...", "webhook_id": "msg_...",
 "received_at": "2026-11-28T12:00:00.000Z",
 "changes": [{"id": "ADAM-12", "at": "2026-11-28T11:59:59.500Z", "fields": {"status": "10-8"}}]}
```

A field present in `fields` is set (null clears it); a field absent is unchanged. `at` is the source's
event time when it has one, else `received_at`. A request too large for one message is split into
several; `offset` (absent when 0) is the position of a message's first change in the request, so the
position of every change, part of the merge's tie-break, survives the split.

Calls and panics travel on their own queue, the emergency queue, which the consumer reads with no
batching window: one message per call event or panic (`emergency_messages`), so that one that cannot be
delivered holds back no other. Such a message carries `calls` or `panics` instead of `changes`:

```json
{"v": 1, "source": "cad", ..., "calls": [{"key": "1234", "at": "...", "fields": {"location": "..."}}]}
{"v": 1, "source": "cad", ..., "panics": [{"unit": "ADAM-12", "at": "...", "key": "", "address": null}]}
```

The consumer reads any message on either queue (a redriven one may come back on the other). A list
that is empty is left out of the body, so a unit message is what it always was.

An emergency the relay acknowledged but can deliver to no unit (a Sonoran panic of an identId no login
made known, an ER:LC panic held for a player no poll found in time) is written straight to the DLQ, its
reason in the `relay-reason` attribute, as a message that carries `undelivered` (`undelivered_letters`):

```json
{"v": 1, "source": "cad", ..., "undelivered": [{"kind": "panic", "who": "Sonoran identId 17",
  "at": "...", "reason": "no login made identId 17 known: the unit must log in (or be updated) again"}]}
```

`relay redrive` may send it back: the consumer acknowledges it and writes nothing (a panic pressed
minutes or hours ago is not sent late; the player presses again), logging "undelivered emergency
redriven".

Bodies are ASCII JSON (every other character escaped): SQS refuses some characters a JSON string may
hold (U+FFFE, U+FFFF), and a sender's valid payload must never become a queue error. ASCII also makes
a body's length its size in bytes.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from relay.errors import QueueUnavailableError
from relay.models import CallChange, Instant, Panic, Undelivered, UnitChange, format_instant
from relay.observability import logger
from relay.ports.queue import DeadLetter, DeadLetterPort

# Each message stays well under SQS's 1 MiB so a batch holds several and the consumer's 6 MB invoke fits.
MAX_MESSAGE_BYTES = 128 * 1024

# The source of `relay resync`'s messages: each an empty change of a unit the relay knows, which asks the
# consumer to put the unit back with every value it knows when the partner no longer lists it (a wiped
# MDT). A unit the partner lists is planned as any other: its fields keep other writers' newer edits.
RESYNC_SOURCE = "relay:resync"


class QueueMessage(BaseModel):
    """The versioned body of every SQS message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    source: str = Field(min_length=1)
    mdt_id: str = Field(min_length=1)
    guild_id: str = Field(min_length=1)
    actor: str | None = None
    webhook_id: str | None = None
    received_at: Instant
    changes: list[UnitChange] = Field(default_factory=list)
    calls: list[CallChange] = Field(default_factory=list)
    panics: list[Panic] = Field(default_factory=list)
    # Emergencies that could not be delivered: only ever in the DLQ (written there by whoever found it).
    undelivered: list[Undelivered] = Field(default_factory=list)
    offset: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _carries_something(self) -> QueueMessage:
        if not (self.changes or self.calls or self.panics or self.undelivered):
            raise ValueError("changes: a message carries at least one unit change, call or panic")
        return self

    @property
    def is_emergency(self) -> bool:
        return bool(self.calls or self.panics)

    def body(self) -> str:
        """The SQS body of this message: its JSON, ASCII only (`offset` and empty lists left out)."""
        data = self.model_dump(mode="json")
        for name in ("offset", "changes", "calls", "panics", "undelivered"):
            if not data[name]:
                del data[name]
        return _ascii_json(data)


def _ascii_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def queue_messages(
    *,
    source: str,
    mdt_id: str,
    guild_id: str,
    actor: str | None,
    webhook_id: str | None,
    received_at: datetime,
    changes: Sequence[UnitChange],
) -> list[QueueMessage]:
    """The messages that carry these changes (none for no change), each within MAX_MESSAGE_BYTES.

    The one step from an adapter's (or the poller's) output to the queue: the ingress, `relay map` and
    the ER:LC poller all call it.
    """
    if not changes:
        return []
    message = QueueMessage(
        source=source,
        mdt_id=mdt_id,
        guild_id=guild_id,
        actor=actor,
        webhook_id=webhook_id,
        received_at=received_at,
        changes=list(changes),
    )
    return split_messages(message)


def emergency_messages(
    *,
    source: str,
    mdt_id: str,
    guild_id: str,
    actor: str | None,
    webhook_id: str | None,
    received_at: datetime,
    calls: Sequence[CallChange] = (),
    panics: Sequence[Panic] = (),
) -> list[QueueMessage]:
    """One message per panic, then one per call event (each small, each delivered or failed on its
    own), for the emergency queue. `offset` is the event's position among the request's calls, the
    tie-break of two events of one call with the same time."""
    common: dict[str, Any] = {
        "source": source,
        "mdt_id": mdt_id,
        "guild_id": guild_id,
        "actor": actor,
        "webhook_id": webhook_id,
        "received_at": received_at,
    }
    return [QueueMessage(**common, panics=[panic]) for panic in panics] + [
        QueueMessage(**common, calls=[call], offset=index) for index, call in enumerate(calls)
    ]


def undelivered_letters(
    *,
    source: str,
    mdt_id: str,
    guild_id: str,
    actor: str | None,
    webhook_id: str | None,
    received_at: datetime,
    undelivered: Sequence[Undelivered],
) -> list[DeadLetter]:
    """One dead letter per undelivered emergency, with its reason (DeadLetterPort.send takes them)."""
    letters = []
    for index, item in enumerate(undelivered):
        message = QueueMessage(
            source=source,
            mdt_id=mdt_id,
            guild_id=guild_id,
            actor=actor,
            webhook_id=webhook_id,
            received_at=received_at,
            undelivered=[item],
        )
        name = f"undelivered:{webhook_id or format_instant(received_at)}:{index}"
        letters.append(DeadLetter(name, message.body(), item.describe(source)))
    return letters


def send_undelivered(port: DeadLetterPort | None, letters: Sequence[DeadLetter]) -> None:
    """Dead-letter every letter, or raise QueueUnavailableError: a sender's request is then answered 503
    and retried (what it already queued comes again: the merge and the panic window absorb the copies);
    the poll is tried again at its next run. No port (`relay replay`, a stack without a DLQ): logged."""
    if not letters:
        return
    if port is None:
        logger.warning("no DLQ here: undelivered emergencies only logged", extra={"count": len(letters)})
        return
    missing = {letter.message_id for letter in letters} - port.send(letters)
    if missing:
        logger.error("undelivered emergencies not dead-lettered", extra={"count": len(missing)})
        raise QueueUnavailableError()


def split_messages(template: QueueMessage, max_bytes: int = MAX_MESSAGE_BYTES) -> list[QueueMessage]:
    """Split a message's changes, in order, into as few messages as fit `max_bytes` each.

    Linear: the body is the envelope plus each change's JSON and a comma between them, so sizes add up
    without serialising every candidate. A single change larger than `max_bytes` (impossible with
    the model's length limits) would still travel alone rather than be dropped.
    """
    if len(template.body()) <= max_bytes:
        return [template]  # the common case: one serialisation, no per-change sizes
    # The envelope with the largest offset any piece can carry: every piece's size is then a bound.
    # (An empty list is left out of a body: the key and its brackets are counted back in.)
    envelope = len(
        template.model_copy(update={"changes": [], "offset": template.offset + len(template.changes)}).body()
    ) + len(',"changes":[]')
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
    offsets = [0, *itertools.accumulate(len(piece) for piece in pieces[:-1])]
    return [
        template.model_copy(update={"changes": changes, "offset": template.offset + offset})
        for changes, offset in zip(pieces, offsets, strict=True)
    ]


class Publisher(Protocol):
    """The queue: every message or nothing (relay.aws.sqs.SqsPublisher)."""

    def send(self, messages: Sequence[QueueMessage], delay_seconds: int = 0) -> int:
        """Enqueue every message (visible after `delay_seconds`, at most 900) or raise
        QueueUnavailableError. Returns the number sent."""
        ...
