"""Two consumers at once against the Northca emulator, each in its own "container" (its own pacer and
client) but sharing the partner's schedule in the state table (moto): the emulator's request log shows
the partner got no more than the cap allows, GETs and PUTs alike, however the two interleaved.

Nothing here depends on the machine's speed: a call leaves no earlier than its slot, so the sorted
arrivals each come no earlier than the sorted slots; the slots themselves obey the cap exactly (they
are numbers the schedule hands out); and the last call cannot arrive before the cap lets n calls
through. A loaded machine only makes calls later, which none of these forbid."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest

from relay.aws.pacing import DynamoSlotStore
from relay.consumer.invocation import ConsumerDeps
from relay.consumer.pipeline import process_batch
from relay.consumer.unit_state import InMemoryUnitStateStore
from relay.memory import StaticSecrets
from relay.northca.client import NorthcaClient
from relay.northca.pacing import PartnerPacer
from relay.northca.writer import PartnerWriter
from relay_devtools.emulators.northca import NorthcaEmulator
from tests.support.aws import create_unit_state_table
from tests.support.constants import GUILD, MDT, PARTNER_KEY
from tests.support.consumer import change, message, record

TABLE = "pacing-unit-state"
RATE, BURST = 10.0, 3
UNITS_EACH = 12  # one PUT each (max_units_per_request = 1), and one GET: 13 calls per consumer


class RecordingStore(DynamoSlotStore):
    """The real store, noting each slot it hands out (now + the wait, when taken)."""

    slots: list[float] = []
    lock = threading.Lock()
    # DynamoDB applies a conditional write atomically; moto's in-process backend checks and writes
    # without a lock, so two threads could both pass `tat = :seen` (a loaded machine made it happen:
    # four slots in 43 ms with a burst of 3). The lock gives the test DynamoDB's atomicity.
    atomic = threading.Lock()

    def _update(self, **params: Any) -> dict[str, Any] | None:
        with self.atomic:
            return super()._update(**params)

    def reserve(
        self, clock: Callable[[], float], interval: float, tolerance: float, max_wait: float
    ) -> float:
        read: list[float] = []

        def noting() -> float:
            read.append(clock())
            return read[-1]

        wait = super().reserve(noting, interval, tolerance, max_wait)
        if wait <= max_wait:
            with self.lock:
                self.slots.append(read[-1] + wait)  # the instant of the attempt that was written
        return wait


@pytest.fixture
def table(aws: dict[str, Any]) -> Iterator[Any]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_unit_state_table(client, TABLE)
    RecordingStore.slots = []
    yield client


def consumer(emulator: NorthcaEmulator, client: Any, state: InMemoryUnitStateStore) -> ConsumerDeps:
    """One container: its own store handle, pacer and partner client."""
    pacer = PartnerPacer(RecordingStore(TABLE, client), RATE, BURST)
    writer = PartnerWriter(
        StaticSecrets({"northca/partner-key": PARTNER_KEY}),
        "northca/partner-key",
        lambda key: NorthcaClient(emulator.base_url, key, pace=pacer),
    )
    return ConsumerDeps(writer=writer, state=state, max_units_per_request=1, pacer=pacer)


def test_pacing_two_consumers_together_stay_within_the_cap(table: Any) -> None:
    state = InMemoryUnitStateStore()
    with NorthcaEmulator(partner_keys=[PARTNER_KEY], links={MDT: [GUILD]}) as emulator:
        batches = {
            name: [
                record(f"{name}{i}", message(f"{name}-w{i}", change(f"{name}-{i}", 1, status="10-8")))
                for i in range(UNITS_EACH)
            ]
            for name in ("A", "B")
        }
        outcomes: dict[str, Any] = {}
        start = datetime.now().timestamp()

        def run(name: str) -> None:
            outcomes[name] = process_batch(batches[name], consumer(emulator, table, state))

        threads = [threading.Thread(target=run, args=(name,)) for name in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        log = emulator.requests()
        held = emulator.units(MDT)
    # Every unit written, nothing given back
    assert all(not o.failed_message_ids for o in outcomes.values())
    assert len(held) == 2 * UNITS_EACH
    # The partner saw every call once, GETs and PUTs, each no earlier than its slot
    calls = 2 * (UNITS_EACH + 1)
    arrivals = sorted(datetime.fromisoformat(entry["at"]).timestamp() for entry in log)
    slots = sorted(RecordingStore.slots)
    assert len(arrivals) == len(slots) == calls
    assert {entry["method"] for entry in log} == {"GET", "PUT"}
    assert all(a >= s - 0.002 for a, s in zip(arrivals, slots, strict=True))  # the log's ms resolution
    # The slots never let more than the cap through: n calls in any span t take burst + rate * t
    for i in range(calls):
        for j in range(i + 1, calls):
            assert j - i + 1 <= BURST + RATE * (slots[j] - slots[i]) + 1e-4, (i, j)  # floats of epoch seconds
    # so the last call arrives no sooner than the cap allows
    assert arrivals[-1] - start >= (calls - BURST) / RATE - 0.002
