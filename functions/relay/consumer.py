"""What the consumer does with one SQS batch, free of Lambda details.

parse -> group by (mdt, guild) -> merge per unit and field -> one PUT per MDT chunk ->
the ids of every message behind a failed PUT go back to SQS as `batchItemFailures`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from relay.merge import MdtBatch, MergedUnit, merge_messages
from relay.models import QueueMessage
from relay.northca import NorthcaError, UpsertResult
from relay.observability import logger


class UnitWriter(Protocol):
    def upsert_units(
        self, mdt_id: str, guild_id: str, units: Sequence[dict[str, Any]], actor: str | None = None
    ) -> UpsertResult: ...


@dataclass
class BatchOutcome:
    failed_message_ids: set[str] = field(default_factory=set)
    poison: dict[str, str] = field(default_factory=dict)  # message id -> why it could not be read
    puts: int = 0
    units_written: int = 0

    def response(self, order: Sequence[str]) -> dict[str, list[dict[str, str]]]:
        """The partial batch response Lambda expects, in the batch's own order."""
        return {
            "batchItemFailures": [{"itemIdentifier": mid} for mid in order if mid in self.failed_message_ids]
        }


@dataclass
class ConsumerDeps:
    writer: UnitWriter
    max_units_per_request: int = 100
    # Milliseconds left in the invocation; PUTs stop starting when too little is left.
    remaining_ms: Callable[[], int] = lambda: 60_000
    min_remaining_ms: int = 15_000


def parse_records(
    records: Iterable[Mapping[str, Any]], outcome: BatchOutcome
) -> list[tuple[str, QueueMessage]]:
    parsed = []
    for record in records:
        message_id = str(record.get("messageId") or "")
        try:
            parsed.append((message_id, QueueMessage.model_validate_json(record.get("body") or "")))
        except ValidationError as exc:
            # Reported failed so that after maxReceiveCount it lands in the DLQ with its reason logged.
            reason = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:3]
            )
            outcome.poison[message_id] = reason
            outcome.failed_message_ids.add(message_id)
            logger.error("unreadable queue message", extra={"message_id": message_id, "reason": reason})
    return parsed


def chunks(units: list[MergedUnit], size: int) -> list[list[MergedUnit]]:
    return [units[i : i + size] for i in range(0, len(units), size)]


def write_group(group: MdtBatch, deps: ConsumerDeps, outcome: BatchOutcome) -> None:
    units = sorted(group.units.values(), key=lambda u: u.unit_id)
    for chunk in chunks(units, deps.max_units_per_request):
        ids = set().union(*(u.message_ids for u in chunk))
        if deps.remaining_ms() < deps.min_remaining_ms:
            outcome.failed_message_ids |= ids
            continue
        try:
            outcome.puts += 1
            deps.writer.upsert_units(group.mdt_id, group.guild_id, [u.record() for u in chunk], group.actor)
        except NorthcaError as exc:
            logger.warning(
                "upsert failed",
                extra={
                    "mdt_id": group.mdt_id,
                    "status": exc.status,
                    "error": exc.message,
                    "units": len(chunk),
                },
            )
            outcome.failed_message_ids |= ids
        else:
            outcome.units_written += len(chunk)


def process_batch(records: Sequence[Mapping[str, Any]], deps: ConsumerDeps) -> BatchOutcome:
    outcome = BatchOutcome()
    messages = parse_records(records, outcome)
    for group in merge_messages(messages).values():
        write_group(group, deps, outcome)
    return outcome
