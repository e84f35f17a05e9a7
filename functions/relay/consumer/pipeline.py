"""What the consumer does with one SQS batch, free of Lambda details.

parse -> calls and panics first, each on its own (relay.consumer.emergencies) -> merge per (MDT,
guild), unit and field -> per MDT: read the partner's units, plan each unit (the partner's record
overlaid with the changes it has not seen), record what is about to be sent, PUT, record what was
confirmed (relay.consumer.batch) -> unreadable messages, messages whose units the partner refused and
calls or panics it refused go to the DLQ with their reason -> the ids of every message behind a unit,
call or panic that was not delivered go back to SQS as `batchItemFailures`, and no other.
docs/consumer.md tells why this converges, with other writers too; docs/emergencies.md, calls and panics.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from relay.config.schema import ConsumerConfig
from relay.consumer.batch import UnitBatch
from relay.consumer.emergencies import deliver_emergencies
from relay.consumer.invocation import BatchOutcome, ConsumerDeps, Delivery, Invocation
from relay.consumer.session import PartnerSession
from relay.errors import QueueUnavailableError, describe_validation_error
from relay.messages import QueueMessage, queue_messages
from relay.models import UnitChange
from relay.observability import logger
from relay.ports.queue import DeadLetter, DeadLetterPort


def _receive_count(record: Mapping[str, Any]) -> int:
    attributes = record.get("attributes")
    raw = attributes.get("ApproximateReceiveCount") if isinstance(attributes, Mapping) else None
    try:
        return int(raw) if raw is not None else 1
    except (TypeError, ValueError):
        return 1


# Instants the consumer can compute with (a day of margin each way for the clamp and the windows).
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def _unusable_instant(message: QueueMessage) -> str | None:
    """Why a parsed message's times cannot be merged, or None: an instant at the calendar's ends would
    overflow the clamp or the late-write window, so it is refused here, alone, with its reason."""
    if not EARLIEST <= message.received_at <= LATEST:
        return f"received_at: {message.received_at.isoformat()} is out of range"
    for index, change in enumerate(message.changes):
        if not EARLIEST <= change.at <= LATEST:
            return f"changes.{index}.at: {change.at.isoformat()} is out of range"
    return None


# The validator itself: model_validate_json's wrapper costs a tenth of a batch's parse.
READ_MESSAGE: Callable[[str], QueueMessage] = QueueMessage.__pydantic_validator__.validate_json


def parse_records(records: Iterable[Mapping[str, Any]], outcome: BatchOutcome) -> list[Delivery]:
    """The readable records; every other one is poison (dead-lettered with its reason), alone."""
    parsed = []
    for record in records:
        message_id = str(record.get("messageId") or "")
        body = record.get("body")
        reason: str | None
        try:
            message = READ_MESSAGE(body if isinstance(body, str) else "")
            reason = _unusable_instant(message)
        except ValidationError as exc:
            reason = describe_validation_error(exc, limit=3)
        except (ValueError, OverflowError, TypeError, RecursionError) as exc:
            # What pydantic lets through (an aware time whose UTC conversion overflows, ...).
            reason = f"body: {type(exc).__name__}: {str(exc)[:200]}"
        if reason is None:
            receipt = str(record.get("receiptHandle") or "")
            parsed.append(Delivery(message_id, receipt, _receive_count(record), message))
            if message.undelivered:
                # Redriven from the DLQ (relay.messages): acknowledged, nothing written, never sent late.
                logger.warning(
                    "undelivered emergency redriven: acknowledged, nothing written",
                    extra={
                        "message_id": message_id,
                        "reason": message.undelivered[0].describe(message.source),
                    },
                )
            continue
        # Dead-lettered with its reason, or reported failed (to the DLQ after maxReceiveCount).
        outcome.poison[message_id] = reason
        outcome.failed_message_ids.add(message_id)
        logger.error("unreadable queue message", extra={"message_id": message_id, "reason": reason})
    return parsed


def dead_letter(
    records: Sequence[Mapping[str, Any]],
    reasons: Mapping[str, str],
    port: DeadLetterPort,
    outcome: BatchOutcome,
) -> None:
    """Send what can never be written to the DLQ now, with its reason, rather than after maxReceiveCount."""
    bodies = {str(r.get("messageId") or ""): str(r.get("body") or "") for r in records}
    letters = [
        DeadLetter(mid, bodies[mid], reason) for mid, reason in sorted(reasons.items()) if mid in bodies
    ]
    sent = port.send(letters) if letters else set()
    outcome.dead_lettered = {mid: reasons[mid] for mid in sorted(sent)}
    outcome.failed_message_ids -= sent
    webhooks = {str(r.get("messageId") or ""): _webhook_id(str(r.get("body") or "")) for r in records}
    for mid, reason in outcome.dead_lettered.items():
        logger.error(
            "message dead-lettered",
            extra={"message_id": mid, "webhook_id": webhooks.get(mid), "reason": reason},
        )


def _webhook_id(body: str) -> str | None:
    """The webhook id of a message body, read leniently: a dead letter may be unreadable."""
    try:
        value = json.loads(body).get("webhook_id")
    except (ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def process_batch(records: Sequence[Mapping[str, Any]], deps: ConsumerDeps) -> BatchOutcome:
    run = Invocation.start(deps)
    outcome = run.outcome
    deliveries = parse_records(records, outcome)
    urgent = deliver_emergencies(deliveries, run)  # before the units: what must not wait
    batch = UnitBatch([d for d in deliveries if d.message.changes], run)
    batch.run(PartnerSession(run))
    outcome.stopped = run.budget.stopped
    outcome.refused_units = dict(batch.refused)
    refused = batch.refused_messages() | urgent.refused
    # Reported failed unless the DLQ takes them now: without it they get there through maxReceiveCount.
    outcome.failed_message_ids |= batch.failed_message_ids() | set(refused) | set(urgent.failed)
    if deps.dead_letters is not None:
        dead_letter(records, outcome.poison | refused, deps.dead_letters, outcome)
    # A unit a PUT may still reach late must be looked at again once that PUT can no longer land: a
    # delayed recheck message does it, so the unit's own messages are retried (or done with) at once. If
    # it cannot be sent, the messages themselves come back only after the late-write window, failed or
    # not: back sooner, they could be done with before that PUT lands, and nothing would undo it.
    if not _schedule_rechecks(batch, deps, outcome):
        outcome.recheck_message_ids = batch.recheck_message_ids() - set(outcome.dead_lettered)
        outcome.failed_message_ids |= outcome.recheck_message_ids
    _delay(deliveries, outcome, deps)
    _log_unit_outcomes(batch, deliveries)
    return outcome


# CloudWatch Logs takes events of up to 256 KB: an outcome line's size is bounded below that.
MAX_OUTCOME_LINE_BYTES = 192 * 1024
# One unit's row names at most this many characters of webhook ids (a thousand messages about one
# unit, each with a 1,024-character id, would not fit in one event); the rest are counted.
MAX_ROW_WEBHOOK_ID_CHARS = 4_096


def _named_webhook_ids(ids: Sequence[str]) -> tuple[list[str], int]:
    """The ids a row names (as many as fit), and how many it leaves out."""
    named: list[str] = []
    size = 0
    for webhook_id in ids:
        size += len(webhook_id)
        if size > MAX_ROW_WEBHOOK_ID_CHARS:
            break
        named.append(webhook_id)
    return named, len(ids) - len(named)


def _row_size_bound(texts: Iterable[str]) -> int:
    """An upper bound of an outcome row's JSON size: its fixed keys and outcome names take less than
    600 bytes, and a character takes at most 12 (a `\\ud83d\\ude00` pair)."""
    return 600 + 12 * sum(len(text) + 3 for text in texts)


def _log_unit_outcomes(batch: UnitBatch, deliveries: Sequence[Delivery]) -> None:
    """What became of each unit and which webhooks it came from (the delivery trail), many units to a
    line: one log record per unit cost more than the rest of the batch's work."""
    by_message = {d.message_id: d.message for d in deliveries}
    line: list[dict[str, Any]] = []
    size = 0
    for unit in batch.unit_outcomes():
        messages = [by_message[mid] for mid in unit.message_ids if mid in by_message]
        webhook_ids, omitted = _named_webhook_ids(sorted({m.webhook_id for m in messages if m.webhook_id}))
        sources = sorted({m.source for m in messages})
        bound = _row_size_bound(
            (unit.key.mdt_id, unit.unit_id, unit.detail, *webhook_ids, *sources, *unit.written.values())
        )
        if line and size + bound > MAX_OUTCOME_LINE_BYTES:
            logger.info("unit outcomes", extra={"units": line})
            line, size = [], 0
        line.append(
            {
                "mdt_id": unit.key.mdt_id,
                "unit_id": unit.unit_id,
                "outcome": unit.result,
                "detail": unit.detail,
                "webhook_ids": webhook_ids,
                "webhook_ids_omitted": omitted,
                "sources": sources,
                "fields": unit.fields,
                "written": unit.written,
                "recheck": unit.recheck,
            }
        )
        size += bound
    if line:
        logger.info("unit outcomes", extra={"units": line})


# A recheck is visible this long after the late-write window (a PUT sent at the end of the invocation
# has landed by then), within SQS's largest message delay.
RECHECK_MARGIN_SECONDS = 5
SQS_MAX_DELAY_SECONDS = 900
RECHECK_SOURCE = "relay:recheck"


def _schedule_rechecks(batch: UnitBatch, deps: ConsumerDeps, outcome: BatchOutcome) -> bool:
    """Send a delayed recheck for every unit a PUT may still reach late (an empty change: the consumer
    reads the unit again and puts its newest values back over a late PUT of its own). False when there
    is none to send, or it could not be sent: the caller then keeps the messages back instead."""
    units = batch.recheck_units()
    delay = deps.settings.late_write_window_seconds + RECHECK_MARGIN_SECONDS
    if not units or deps.rechecks is None or delay > SQS_MAX_DELAY_SECONDS:
        return False
    now = deps.clock()
    groups: dict[tuple[str, str], list[UnitChange]] = {}
    for key, unit_id in units:
        groups.setdefault((key.mdt_id, key.guild_id), []).append(UnitChange(id=unit_id, at=now))
    messages = [
        message
        for (mdt_id, guild_id), changes in sorted(groups.items())
        for message in queue_messages(
            source=RECHECK_SOURCE,
            mdt_id=mdt_id,
            guild_id=guild_id,
            actor=None,
            webhook_id=f"recheck:{now.isoformat(timespec='milliseconds')}",
            received_at=now,
            changes=changes,
        )
    ]
    try:
        deps.rechecks.send(messages, delay_seconds=delay)
    except QueueUnavailableError:
        logger.warning("recheck not scheduled: the messages wait out the late-write window instead")
        return False
    outcome.rechecks_scheduled = len(units)
    return True


def retry_delay(settings: ConsumerConfig, receive_count: int) -> int:
    """How long a unit not written this time waits before it is tried again: short at first, longer at
    each receive, so a partner outage takes as long to reach the DLQ as the queue's own timeout did."""
    seconds = settings.retry_delay_seconds * settings.retry_backoff ** max(receive_count - 1, 0)
    return int(min(seconds, settings.max_visibility_delay_seconds))


def _delay(deliveries: Sequence[Delivery], outcome: BatchOutcome, deps: ConsumerDeps) -> None:
    """Give back throttled messages after the partner's Retry-After, messages to check again after the
    late-write window (a PUT of theirs that timed out may still land; the next look undoes it), and
    every other message not written this time after its retry delay."""
    if deps.visibility is None:
        return
    delays: dict[int, list[str]] = {}
    settings = deps.settings
    recheck = min(settings.late_write_window_seconds, settings.max_visibility_delay_seconds)
    for delivery in deliveries:
        if delivery.message_id in outcome.emergency_delays:
            if delivery.message_id not in outcome.failed_message_ids:
                continue  # a call or panic dead-lettered after all
            seconds = outcome.emergency_delays[delivery.message_id]
        elif delivery.message_id in outcome.recheck_message_ids:
            seconds = max(recheck, outcome.throttle_delay or 0)
        elif delivery.message_id not in outcome.failed_message_ids:
            continue
        elif outcome.throttle_delay is not None:
            seconds = outcome.throttle_delay
        elif delivery.message_id in outcome.poison:
            continue  # unreadable, without a DLQ port: its receives run out at the queue's own pace
        else:
            seconds = retry_delay(settings, delivery.receive_count)
        delays.setdefault(seconds, []).append(delivery.receipt_handle)
    for seconds, handles in sorted(delays.items()):
        deps.visibility.delay(handles, seconds)
