"""Consumer under AWS latency: wall time of one batch when every DynamoDB call takes 10 ms, against the
consumer's 60 s timeout.

The real `process_batch` and the real `DynamoUnitStateStore` (its JSON items, conditional UpdateItems
and BatchGetItem pages) run on a stand-in DynamoDB client that keeps items in memory and sleeps 10 ms
in every call, outside its lock, as a network round trip would. The partner answers from memory in
50 ms per call. `remaining_ms` is the real remaining time of a 60 s invocation. Rows: a 1,000-message
batch of the burst (500 units in 5 MDTs) with the store's pool and with one worker (state I/O one call
after another, as before the pool); and the issue's 8 messages of 500 units each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from relay.aws.unit_state import DynamoUnitStateStore
from relay.config.schema import ConsumerConfig
from relay.consumer.invocation import ConsumerDeps
from relay.consumer.pipeline import process_batch
from relay.messages import QueueMessage
from relay.models import UnitChange
from relay.ports.partner import PartnerUnit, UnitRecord, UpsertAnswer
from relay_devtools.bench import Row
from relay_devtools.bench.bench_consumer import GUILD, START, CountingPartner, burst_records

AWS_LATENCY = 0.010
PARTNER_LATENCY = 0.050
TIMEOUT_MS = 60_000
POOL = 16  # io_workers() at the template's 256 MB


class LatentDynamoDB:
    """The two DynamoDB calls the unit-state store makes, in memory, each taking AWS_LATENCY."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.calls = 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        time.sleep(AWS_LATENCY)
        ((table, request),) = RequestItems.items()
        with self.lock:
            self.calls += 1
            found = [
                self.items[k]
                for key in request["Keys"]
                if (k := (key["pk"]["S"], key["sk"]["S"])) in self.items
            ]
        return {"Responses": {table: found}, "UnprocessedKeys": {}}

    def update_item(self, **request: Any) -> dict[str, Any]:
        time.sleep(AWS_LATENCY)
        key = (request["Key"]["pk"]["S"], request["Key"]["sk"]["S"])
        values = request["ExpressionAttributeValues"]
        with self.lock:
            self.calls += 1
            current = self.items.get(key)
            expected = values.get(":expected", {}).get("N")
            if (
                (current is not None)
                if expected is None
                else (current is None or current["version"]["N"] != expected)
            ):
                raise ConditionFailed
            self.items[key] = {
                "pk": {"S": key[0]},
                "sk": {"S": key[1]},
                "state": values[":state"],
                "version": values[":new"],
            }
        return {}


class ConditionFailed(Exception):
    response = {"Error": {"Code": "ConditionalCheckFailedException"}}


class LatentPartner(CountingPartner):
    def upsert_units(
        self, mdt_id: str, guild_id: str, units: Sequence[UnitRecord], actor: str | None = None
    ) -> UpsertAnswer:
        time.sleep(PARTNER_LATENCY)
        return super().upsert_units(mdt_id, guild_id, units, actor)

    def list_units(self, mdt_id: str, guild_id: str) -> dict[str, PartnerUnit]:
        time.sleep(PARTNER_LATENCY)
        return super().list_units(mdt_id, guild_id)


def wide_records() -> list[dict[str, Any]]:
    """The issue's case: 8 messages of 500 units each, in one MDT."""
    records = []
    for m in range(8):
        message = QueueMessage(
            source="bench",
            mdt_id="00000000-0000-4000-8000-000000000000",
            guild_id=GUILD,
            webhook_id=f"wide-{m}",
            received_at=START,
            changes=[
                UnitChange(id=f"W{m}-{u:03d}", at=START, fields={"status": f"10-{m}", "rank": "PO"})
                for u in range(500)
            ],
        )
        records.append({"messageId": f"w{m}", "receiptHandle": f"rh-w{m}", "body": message.body()})
    return records


def one_invocation(
    records: list[dict[str, Any]], workers: int, timeout_ms: int = TIMEOUT_MS
) -> tuple[float, int, int]:
    """Seconds one invocation took, the messages it handed back, and its DynamoDB calls."""
    client = LatentDynamoDB()
    started = time.monotonic()
    deps = ConsumerDeps(
        writer=LatentPartner(),
        state=DynamoUnitStateStore("bench", client, workers=workers),  # type: ignore[arg-type]
        settings=ConsumerConfig(),
        remaining_ms=lambda: timeout_ms - int((time.monotonic() - started) * 1000),
    )
    outcome = process_batch(records, deps)
    return time.monotonic() - started, len(outcome.failed_message_ids), client.calls


def run() -> list[Row]:
    batch = burst_records()[:1000]
    wide = wide_records()
    rows = []
    for name, records, workers, timeout_ms in (
        (f"1,000 msgs, pool of {POOL}", batch, POOL, TIMEOUT_MS),
        ("1,000 msgs, one call at a time", batch, 1, TIMEOUT_MS),
        (f"8 x 500 units, pool of {POOL}", wide, POOL, TIMEOUT_MS),
        # The deadline itself: 20 s left leaves 5 s before the 15 s reserve.
        ("8 x 500 units, one at a time, 20 s left", wide, 1, 20_000),
    ):
        seconds, handed_back, calls = one_invocation(records, workers, timeout_ms)
        rows.append(
            Row(
                f"{name}: {calls} calls, {handed_back} back",
                seconds,
                "the time the invocation had",
                timeout_ms / 1000,
                "s",
            )
        )
    return rows
