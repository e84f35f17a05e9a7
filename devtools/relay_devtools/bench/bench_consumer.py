"""Consumer: upstream PUTs for a burst, merged by the relay vs one per webhook; CPU to merge vs json.loads.

The burst: 10,000 webhooks over 500 units in 5 MDTs (seeded), each a queue message with one change of
one to three fields, each value its own. The real `process_batch` consumes it in SQS batches of the
template's default size (ConsumerBatchSize) and of 100 (the default before), with unit state in
memory and a partner that only counts requests; each run checks that the partner ends with every
field's newest value. Its baseline is what EventBridge Pipes with an API destination would do: one
PUT per webhook.

CPU (time.process_time, best of 5): parsing and merging the 10,000 queue messages (`parse_records` +
`merge_messages`, the consumer's pure work per batch) against bare `json.loads` of the same bodies; and
the whole `process_batch` at the template's batch size, state in memory, its outcome lines written to
stdout (the bench's runner sends them to /dev/null), next to the same baseline.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from relay.consumer.invocation import BatchOutcome, ConsumerDeps
from relay.consumer.merge import merge_messages
from relay.consumer.pipeline import parse_records, process_batch
from relay.consumer.unit_state import InMemoryUnitStateStore
from relay.messages import QueueMessage
from relay.models import UNIT_FIELDS, UnitChange
from relay.northca.wire import read_unit_list, record_json
from relay.ports.partner import PartnerUnit, UnitRecord, UpsertAnswer
from relay_devtools.bench import Row
from relay_devtools.files.template import queue_settings

WEBHOOKS = 10_000
UNITS = 500
MDTS = 5
GUILD = "123456789012345678"
RUNS = 5
TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class CountingPartner:
    """The partner's two calls, in memory, counted: what the relay sends, not how fast the network is.
    Its list answer is read by the relay's own wire reader, as the real client's is."""

    def __init__(self) -> None:
        self.puts = 0
        self.gets = 0
        self.units: dict[str, dict[str, dict[str, Any]]] = {}

    def upsert_units(
        self, mdt_id: str, guild_id: str, units: Sequence[UnitRecord], actor: str | None = None
    ) -> UpsertAnswer:
        self.puts += 1
        stored = self.units.setdefault(mdt_id, {})
        for unit in units:
            wire = record_json(unit)
            stored[unit.unit_id] = {name: wire.get(name, "") for name in ("id", *UNIT_FIELDS)}
        return UpsertAnswer(frozenset(unit.unit_id for unit in units))

    def list_units(self, mdt_id: str, guild_id: str) -> dict[str, PartnerUnit]:
        self.gets += 1
        return read_unit_list(list(self.units.get(mdt_id, {}).values()))


def burst_records(seed: int = 4) -> list[dict[str, Any]]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible burst, not a secret
    start = START
    mdts = [f"00000000-0000-4000-8000-{i:012d}" for i in range(MDTS)]
    units = [(mdts[i % MDTS], f"UNIT-{i:04d}") for i in range(UNITS)]
    records = []
    for seq in range(WEBHOOKS):
        mdt, unit = rng.choice(units)
        names = rng.sample(UNIT_FIELDS, rng.randint(1, 3))
        message = QueueMessage(
            source="bench",
            mdt_id=mdt,
            guild_id=GUILD,
            webhook_id=f"wh-{seq}",
            received_at=start + timedelta(milliseconds=seq),
            changes=[
                UnitChange(
                    id=unit,
                    at=start + timedelta(milliseconds=seq),
                    fields={name: f"{name[:4]}-{seq}" for name in names},
                )
            ],
        )
        records.append({"messageId": f"m{seq}", "receiptHandle": f"rh{seq}", "body": message.body()})
    return records


def puts_for(records: list[dict[str, Any]], batch_size: int) -> int:
    partner = CountingPartner()
    deps = ConsumerDeps(writer=partner, state=InMemoryUnitStateStore(), sleep=lambda seconds: None)
    for start in range(0, len(records), batch_size):
        outcome = process_batch(records[start : start + batch_size], deps)
        assert not outcome.failed_message_ids
    if partner.units != newest_values(records):
        raise AssertionError("the partner does not hold every field's newest value")
    return partner.puts


def newest_values(records: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """What the partner must hold after the burst: each field's newest value (the bench's events are
    in time order, so the last one seen), "" for a field no webhook set."""
    units: dict[str, dict[str, dict[str, Any]]] = {}
    for record in records:
        message = QueueMessage.model_validate_json(record["body"])
        for change in message.changes:
            unit = units.setdefault(message.mdt_id, {}).setdefault(
                change.id, {"id": change.id, **dict.fromkeys(UNIT_FIELDS, "")}
            )
            unit.update({name: value or "" for name, value in change.fields.items()})
    return units


def cpu_seconds(work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(RUNS):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def run() -> list[Row]:
    records = burst_records()
    bodies = [r["body"] for r in records]
    default = queue_settings(TEMPLATE).batch_size

    def loads() -> None:
        for body in bodies:
            json.loads(body)

    def merge() -> None:
        merge_messages((d.message_id, d.message) for d in parse_records(records, BatchOutcome()))

    def consume() -> None:
        puts_for(records, default)

    baseline = cpu_seconds(loads)
    return [
        Row(
            f"PUTs for the burst, template default ({default})",
            puts_for(records, default),
            "one PUT per webhook (Pipes)",
            WEBHOOKS,
            "",
        ),
        Row(
            "PUTs for the burst, batches of 100",
            puts_for(records, 100),
            "one PUT per webhook (Pipes)",
            WEBHOOKS,
            "",
        ),
        Row(
            "CPU: parse + merge 10,000 messages",
            cpu_seconds(merge) * 1000,
            "CPU: json.loads of the same",
            baseline * 1000,
            "ms",
        ),
        Row(
            f"CPU: process_batch in batches of {default}, state in memory",
            cpu_seconds(consume) * 1000,
            "CPU: json.loads of the same",
            baseline * 1000,
            "ms",
        ),
    ]
