"""What the consumer does with one SQS batch, free of Lambda details.

parse -> merge per (mdt, guild), unit and field -> merge into stored unit state (conditional writes)
-> PUT the full record of every unit whose stored version is not yet confirmed sent -> mark it sent
(re-send when another consumer wrote meanwhile) -> the ids of every message behind a unit that was not
written go back to SQS as `batchItemFailures`, and no other. docs/consumer.md tells why this converges.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from relay.config import ConsumerConfig
from relay.consumer.batch import UnitBatch
from relay.consumer.session import PartnerSession
from relay.consumer.unit_state import UnitKey
from relay.errors import UnitStateUnavailableError, describe_validation_error
from relay.messages import QueueMessage
from relay.observability import logger
from relay.ports import DeadLetter, DeadLetterPort, UnitStateStore, UnitWriter, VisibilityPort


@dataclass(frozen=True)
class Delivery:
    """One SQS record the consumer could read."""

    message_id: str
    receipt_handle: str
    receive_count: int
    message: QueueMessage


@dataclass
class BatchOutcome:
    failed_message_ids: set[str] = field(default_factory=set)
    poison: dict[str, str] = field(default_factory=dict)  # message id -> why it could not be read
    refused_units: dict[UnitKey, str] = field(default_factory=dict)  # the partner's 400s (by bisection)
    dead_lettered: dict[str, str] = field(default_factory=dict)  # message id -> reason, sent to the DLQ
    puts: int = 0
    units_written: int = 0
    resends: int = 0
    stopped: str | None = None  # why partner calls stopped early in this invocation
    throttle_delay: int | None = None  # visibility delay given to the failed messages

    def response(self, order: Sequence[str]) -> dict[str, list[dict[str, str]]]:
        """The partial batch response Lambda expects, in the batch's own order."""
        return {
            "batchItemFailures": [{"itemIdentifier": mid} for mid in order if mid in self.failed_message_ids]
        }


@dataclass
class ConsumerDeps:
    writer: UnitWriter
    state: UnitStateStore
    visibility: VisibilityPort | None = None
    # Without it, messages that can never be written reach the DLQ through maxReceiveCount.
    dead_letters: DeadLetterPort | None = None
    settings: ConsumerConfig = field(default_factory=ConsumerConfig)
    max_units_per_request: int = 100
    # Milliseconds left in the invocation; no PUT starts, and no backoff sleeps, past the budget.
    remaining_ms: Callable[[], int] = lambda: 60_000
    sleep: Callable[[float], None] = time.sleep


def _receive_count(record: Mapping[str, Any]) -> int:
    attributes = record.get("attributes")
    raw = attributes.get("ApproximateReceiveCount") if isinstance(attributes, Mapping) else None
    try:
        return int(raw) if raw is not None else 1
    except (TypeError, ValueError):
        return 1


def parse_records(records: Iterable[Mapping[str, Any]], outcome: BatchOutcome) -> list[Delivery]:
    parsed = []
    for record in records:
        message_id = str(record.get("messageId") or "")
        try:
            message = QueueMessage.model_validate_json(record.get("body") or "")
        except ValidationError as exc:
            # Dead-lettered with its reason, or reported failed (to the DLQ after maxReceiveCount).
            reason = describe_validation_error(exc, limit=3)
            outcome.poison[message_id] = reason
            outcome.failed_message_ids.add(message_id)
            logger.error("unreadable queue message", extra={"message_id": message_id, "reason": reason})
            continue
        parsed.append(
            Delivery(message_id, str(record.get("receiptHandle") or ""), _receive_count(record), message)
        )
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
    for mid, reason in outcome.dead_lettered.items():
        logger.error("message dead-lettered", extra={"message_id": mid, "reason": reason})


def process_batch(records: Sequence[Mapping[str, Any]], deps: ConsumerDeps) -> BatchOutcome:
    outcome = BatchOutcome()
    deliveries = parse_records(records, outcome)
    batch = UnitBatch(deliveries, deps, outcome)
    try:
        stored = deps.state.read_many(sorted(batch.units))
    except UnitStateUnavailableError as exc:
        logger.warning("unit state unavailable, the whole batch comes back", extra={"error": str(exc)})
        outcome.failed_message_ids |= {d.message_id for d in deliveries}
        if deps.dead_letters is not None:
            dead_letter(records, outcome.poison, deps.dead_letters, outcome)
        return outcome
    pending = batch.prepare(stored)
    session = PartnerSession(deps, outcome)
    for group_key in sorted(pending):
        batch.send(batch.groups[group_key], pending[group_key], session)
    outcome.failed_message_ids |= batch.failed_message_ids()
    if deps.dead_letters is not None:
        dead_letter(records, outcome.poison | batch.refused_messages(), deps.dead_letters, outcome)
    if outcome.throttle_delay is not None and deps.visibility is not None:
        handles = [d.receipt_handle for d in deliveries if d.message_id in outcome.failed_message_ids]
        deps.visibility.delay(handles, outcome.throttle_delay)
    return outcome
