"""What the consumer does with one SQS batch, free of Lambda details.

parse -> merge per (mdt, guild), unit and field -> merge into stored unit state (conditional writes)
-> PUT the full record of every unit whose stored version is not yet confirmed sent -> mark it sent
(re-send when another consumer wrote meanwhile) -> the ids of every message behind a unit that was not
written go back to SQS as `batchItemFailures`, and no other. docs/consumer.md tells why this converges.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from relay.config import ConsumerConfig
from relay.merge import GroupKey, MdtBatch, MergedUnit, merge_messages, merged_fields
from relay.models import QueueMessage
from relay.northca import (
    NorthcaAuthError,
    NorthcaError,
    NorthcaForbiddenError,
    NorthcaInvalidRequestError,
    NorthcaThrottledError,
    UpsertResult,
)
from relay.observability import logger
from relay.state import StateStoreError, UnitKey, UnitState, UnitStateStore

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class UnitWriter(Protocol):
    def upsert_units(
        self, mdt_id: str, guild_id: str, units: Sequence[dict[str, Any]], actor: str | None = None
    ) -> UpsertResult: ...


class VisibilityPort(Protocol):
    def delay(self, receipt_handles: Sequence[str], seconds: int) -> None:
        """Make these in-flight messages visible again in `seconds` (best effort)."""
        ...


class SqsVisibility:
    """ChangeMessageVisibilityBatch on the consumer's own queue."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def delay(self, receipt_handles: Sequence[str], seconds: int) -> None:
        for start in range(0, len(receipt_handles), 10):
            group = receipt_handles[start : start + 10]
            try:
                self.client.change_message_visibility_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                        for i, handle in enumerate(group)
                    ],
                )
            except Exception as exc:  # noqa: BLE001 - the messages still come back at the queue's own timeout
                logger.warning("could not delay throttled messages", extra={"error": type(exc).__name__})


@dataclass(frozen=True)
class DeadLetter:
    """A message that can never be written as it is, with the reason an operator will read in the DLQ."""

    message_id: str
    body: str
    reason: str


class DeadLetterPort(Protocol):
    def send(self, letters: Sequence[DeadLetter]) -> set[str]:
        """Put these messages in the DLQ; return the ids of those that are there now."""
        ...


# The message attribute a dead letter carries its reason in (`relay redrive --list` prints it).
REASON_ATTRIBUTE = "relay-reason"


class SqsDeadLetters:
    """SendMessageBatch to the DLQ, the message body unchanged and the reason as a message attribute."""

    def __init__(self, client: SQSClient, dlq_url: str) -> None:
        self.client = client
        self.dlq_url = dlq_url

    def send(self, letters: Sequence[DeadLetter]) -> set[str]:
        sent: set[str] = set()
        for start in range(0, len(letters), 10):
            group = letters[start : start + 10]
            try:
                answer = self.client.send_message_batch(
                    QueueUrl=self.dlq_url,
                    Entries=[
                        {
                            "Id": str(i),
                            "MessageBody": letter.body,
                            "MessageAttributes": {
                                REASON_ATTRIBUTE: {"DataType": "String", "StringValue": letter.reason[:1024]}
                            },
                        }
                        for i, letter in enumerate(group)
                    ],
                )
            except Exception as exc:  # noqa: BLE001 - not sent: they reach the DLQ through maxReceiveCount
                logger.warning("could not dead-letter messages", extra={"error": type(exc).__name__})
                continue
            sent |= {group[int(entry["Id"])].message_id for entry in answer.get("Successful", [])}
        return sent


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
            reason = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:3]
            )
            outcome.poison[message_id] = reason
            outcome.failed_message_ids.add(message_id)
            logger.error("unreadable queue message", extra={"message_id": message_id, "reason": reason})
            continue
        parsed.append(
            Delivery(message_id, str(record.get("receiptHandle") or ""), _receive_count(record), message)
        )
    return parsed


def chunks[T](items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class PartnerStoppedError(Exception):
    """No more partner calls in this invocation (throttled, out of time, key refused, ...)."""


@dataclass
class WriteResult:
    written: list[UnitState] = field(default_factory=list)
    refused: dict[UnitKey, str] = field(default_factory=dict)  # unit -> the partner's error message
    failed: list[UnitState] = field(default_factory=list)

    def extend(self, other: WriteResult) -> None:
        self.written += other.written
        self.refused |= other.refused
        self.failed += other.failed


class PartnerSession:
    """The partner as one invocation sees it: retries within budget, and when to stop calling it."""

    def __init__(self, deps: ConsumerDeps, outcome: BatchOutcome) -> None:
        self.deps = deps
        self.settings = deps.settings
        self.outcome = outcome
        self.forbidden: set[GroupKey] = set()

    def _can_wait(self, seconds: float) -> bool:
        return self.deps.remaining_ms() - seconds * 1000 >= self.settings.min_remaining_ms

    def _stop(self, reason: str, delay: float | None = None) -> None:
        if self.outcome.stopped is None:
            self.outcome.stopped = reason
        if reason == "throttled":
            wanted = self.settings.throttle_delay_seconds if delay is None else math.ceil(delay)
            self.outcome.throttle_delay = min(wanted, self.settings.max_visibility_delay_seconds)

    def _check_can_call(self, group: MdtBatch) -> None:
        if self.outcome.stopped is not None:
            raise PartnerStoppedError(self.outcome.stopped)
        if (group.mdt_id, group.guild_id) in self.forbidden:
            raise PartnerStoppedError("mdt not linked")
        if self.deps.remaining_ms() < self.settings.min_remaining_ms:
            self._stop("out of time")
            raise PartnerStoppedError("out of time")

    def write_units(self, group: MdtBatch, states: list[UnitState]) -> WriteResult:
        """PUT these units; on a 400 split the request in two until the refused units are isolated."""
        try:
            self._call(group, states)
        except NorthcaInvalidRequestError as exc:
            if len(states) == 1:
                logger.error(
                    "partner refuses a unit; its messages go on to the DLQ",
                    extra={"mdt_id": group.mdt_id, "unit_id": states[0].key.unit_id, "error": exc.message},
                )
                return WriteResult(refused={states[0].key: exc.message})
            middle = len(states) // 2
            result = self.write_units(group, states[:middle])
            result.extend(self.write_units(group, states[middle:]))
            return result
        except (NorthcaError, PartnerStoppedError):
            return WriteResult(failed=list(states))
        return WriteResult(written=list(states))

    def _call(self, group: MdtBatch, states: list[UnitState]) -> None:
        records = [s.record() for s in states]
        attempt = 0
        while True:
            self._check_can_call(group)
            attempt += 1
            self.outcome.puts += 1
            try:
                self.deps.writer.upsert_units(group.mdt_id, group.guild_id, records, group.actor)
                return
            except NorthcaThrottledError as exc:
                wait = exc.retry_after
                if (
                    wait is not None
                    and wait <= self.settings.max_inline_wait_seconds
                    and attempt < self.settings.attempts
                    and self._can_wait(wait)
                ):
                    self.deps.sleep(wait)
                    continue
                logger.warning("partner throttles", extra={"status": exc.status, "retry_after": wait})
                self._stop("throttled", wait)
                raise
            except NorthcaAuthError as exc:
                # The writer already fetched the key again once: the key itself is wrong.
                logger.error("PARTNER KEY REFUSED after a fresh fetch", extra={"error": exc.message})
                self._stop("partner key refused")
                raise
            except NorthcaForbiddenError as exc:
                logger.error(
                    "PARTNER REFUSES THIS MDT/GUILD after a fresh key fetch",
                    extra={"mdt_id": group.mdt_id, "guild_id": group.guild_id, "error": exc.message},
                )
                self.forbidden.add((group.mdt_id, group.guild_id))
                raise
            except NorthcaInvalidRequestError:
                raise
            except NorthcaError as exc:
                backoff = min(
                    self.settings.max_backoff_seconds, self.settings.backoff_seconds * 2 ** (attempt - 1)
                )
                logger.warning(
                    "partner call failed",
                    extra={"status": exc.status, "error": exc.message, "attempt": attempt},
                )
                if attempt >= self.settings.attempts:
                    self._stop("partner unavailable")
                    raise
                if not self._can_wait(backoff):
                    self._stop("out of time")
                    raise
                self.deps.sleep(backoff)
            except Exception as exc:  # noqa: BLE001 - e.g. the secret could not be read: same as unavailable
                logger.error("partner client failed", extra={"error": type(exc).__name__})
                self._stop("partner client error")
                raise NorthcaError(type(exc).__name__) from None


class UnitBatch:
    """One invocation's work: the merged units, their stored state, and which units failed."""

    def __init__(self, deliveries: list[Delivery], deps: ConsumerDeps, outcome: BatchOutcome) -> None:
        self.deps = deps
        self.outcome = outcome
        self.groups = merge_messages((d.message_id, d.message) for d in deliveries)
        self.redelivered = {d.message_id for d in deliveries if d.receive_count > 1}
        self.units: dict[UnitKey, MergedUnit] = {
            UnitKey(group.mdt_id, group.guild_id, unit.unit_id): unit
            for group in self.groups.values()
            for unit in group.units.values()
        }
        self.failed: set[UnitKey] = set()

    def reconcile(self, key: UnitKey, state: UnitState) -> UnitState | None:
        """Merge this batch's changes into the stored state; None when other writers kept winning."""
        incoming = self.units[key].fields
        for _ in range(self.deps.settings.max_write_conflicts):
            fields = merged_fields(state.fields, incoming)
            if fields is None:
                return state  # nothing newer here (a duplicate, or older than what is stored)
            version = self.deps.state.write_fields(key, fields, state.version)
            if version is not None:
                return UnitState(key, fields, version, state.sent_version)
            state = self.deps.state.read_many([key])[key]  # another consumer wrote first: merge onto theirs
        logger.warning("unit state kept changing under us", extra={"unit_id": key.unit_id})
        return None

    def due(self, key: UnitKey, state: UnitState) -> bool:
        # A redelivered message means an earlier attempt's outcome is unknown: send the record again.
        return state.unsent or bool(self.units[key].message_ids & self.redelivered)

    def prepare(self, stored: Mapping[UnitKey, UnitState]) -> dict[GroupKey, dict[UnitKey, UnitState]]:
        pending: dict[GroupKey, dict[UnitKey, UnitState]] = {}
        for key in sorted(self.units):
            try:
                state = self.reconcile(key, stored[key])
            except StateStoreError as exc:
                logger.warning("unit state unavailable", extra={"unit_id": key.unit_id, "error": str(exc)})
                state = None
            if state is None:
                self.failed.add(key)
            elif self.due(key, state):
                pending.setdefault((key.mdt_id, key.guild_id), {})[key] = state
        return pending

    def send(self, group: MdtBatch, pending: dict[UnitKey, UnitState], session: PartnerSession) -> None:
        settings = self.deps.settings
        unfinished: set[UnitKey] = set()
        for _ in range(settings.max_resend_rounds):
            resend: list[UnitKey] = []
            for chunk in chunks(
                sorted(pending.values(), key=lambda s: s.key), self.deps.max_units_per_request
            ):
                result = session.write_units(group, chunk)
                unfinished |= {s.key for s in result.failed}
                self.outcome.refused_units |= result.refused
                unfinished |= set(result.refused)
                for state in result.written:
                    self.outcome.units_written += 1
                    if not self._mark_sent(state):
                        resend.append(state.key)
            if not resend:
                pending = {}
                break
            # Written again since we read it, and perhaps already PUT by the writer before our PUT
            # landed: send the newest record again, whatever sent_version says.
            self.outcome.resends += len(resend)
            try:
                pending = self.deps.state.read_many(resend)
            except StateStoreError:
                unfinished |= set(resend)
                pending = {}
                break
        if pending:
            logger.warning("unit kept changing while being sent", extra={"units": len(pending)})
        unfinished |= set(pending)
        for key in sorted(unfinished):
            self._mark_dirty(key)
        self.failed |= unfinished

    def _mark_sent(self, state: UnitState) -> bool:
        try:
            return self.deps.state.mark_sent(state.key, state.version)
        except StateStoreError:
            # Written, but not recorded as such: failing the messages makes a later attempt re-send.
            self.failed.add(state.key)
            return True

    def _mark_dirty(self, key: UnitKey) -> None:
        # Our PUT may have landed (or half-landed) after a newer one: whoever handles the unit next re-sends.
        try:
            self.deps.state.mark_dirty(key)
        except StateStoreError as exc:
            logger.warning("could not mark unit dirty", extra={"unit_id": key.unit_id, "error": str(exc)})

    def failed_message_ids(self) -> set[str]:
        return set().union(*(self.units[key].message_ids for key in self.failed))

    def refused_messages(self) -> dict[str, str]:
        """Messages whose only unwritten units are ones the partner refused: retrying cannot help them."""
        refused = self.outcome.refused_units
        retried = set().union(*(self.units[key].message_ids for key in self.failed - set(refused)))
        reasons: dict[str, list[str]] = {}
        for key in sorted(refused):
            for message_id in self.units[key].message_ids - retried:
                reasons.setdefault(message_id, []).append(
                    f"partner refused unit {key.unit_id!r} of MDT {key.mdt_id}: {refused[key]}"
                )
        return {message_id: "; ".join(why) for message_id, why in reasons.items()}


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
    except StateStoreError as exc:
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
