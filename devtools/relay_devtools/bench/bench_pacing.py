"""A burst paced to the partner's cap: two consumers at once, each with its own pacer sharing one
schedule, against the Northca emulator on loopback (real HTTP).

Each consumer takes one batch of the burst: 500 units over 5 MDTs, written 10 units a PUT, so 5 GETs and
50 PUTs each, 110 partner calls in all. Paced at 20 calls a second with bursts of 10 (`[northca]
max_requests_per_second`, `burst`), against the same two consumers unpaced. Rows: the most calls the
emulator's request log holds in any one second (the cap allows `burst` + `rate` in any second: 30); the
burst's wall time (the cap's least: (110 - 10) / 20 = 5 s); calls a second over the burst.
The schedule is the in-memory twin (the DynamoDB store adds one conditional UpdateItem per call).

Then a panic against busy unit consumers at the default cap (5/s, bursts of 10), in simulated time
(relay_devtools.bench.pacing_simulation): its wait for slots, urgent (calls and panics go ahead of the
units' waiting slots) against one schedule for all (`urgent_burst = 0`, as before): one call for a
panic, four for a panic for a unit the MDT does not hold as active.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from relay.consumer.invocation import ConsumerDeps
from relay.consumer.pipeline import process_batch
from relay.consumer.unit_state import InMemoryUnitStateStore
from relay.memory import InMemorySlotStore, StaticSecrets
from relay.messages import QueueMessage
from relay.models import UnitChange
from relay.northca.client import NorthcaClient
from relay.northca.pacing import PartnerPacer
from relay.northca.writer import PartnerWriter
from relay_devtools.bench import Row
from relay_devtools.bench.pacing_simulation import simulate
from relay_devtools.emulators.northca import NorthcaEmulator

RATE, BURST = 20.0, 10
MDTS, UNITS, PER_PUT = 5, 500, 10
KEY = "bench-partner-key"
GUILD = "123456789012345678"


def batch(consumer: str, at: datetime) -> list[dict[str, Any]]:
    """One record per unit (a status each), over the MDTs."""
    records = []
    for i in range(UNITS):
        message = QueueMessage(
            source="bench",
            mdt_id=f"00000000-0000-4000-8000-{i % MDTS:012d}",
            guild_id=GUILD,
            webhook_id=f"{consumer}-{i}",
            received_at=at,
            changes=[UnitChange(id=f"{consumer}-{i:04d}", at=at, fields={"status": "10-8"})],
        )
        records.append(
            {"messageId": f"{consumer}{i}", "receiptHandle": f"rh{consumer}{i}", "body": message.body()}
        )
    return records


def burst(paced: bool) -> tuple[float, int, int]:
    """(wall seconds, calls, the most calls in any one second of the request log)."""
    links = {f"00000000-0000-4000-8000-{i:012d}": [GUILD] for i in range(MDTS)}
    store = InMemorySlotStore()
    with NorthcaEmulator(partner_keys=[KEY], links=links) as emulator:

        def deps() -> ConsumerDeps:
            pacer = PartnerPacer(store, RATE, BURST) if paced else None
            writer = PartnerWriter(
                StaticSecrets({"key": KEY}),
                "key",
                lambda key: NorthcaClient(emulator.base_url, key, pace=pacer),
            )
            return ConsumerDeps(
                writer=writer, state=InMemoryUnitStateStore(), max_units_per_request=PER_PUT, pacer=pacer
            )

        now = datetime.now().astimezone()
        work = {name: (batch(name, now), deps()) for name in ("A", "B")}
        start = time.monotonic()
        threads = [threading.Thread(target=process_batch, args=args) for args in work.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - start
        arrivals = sorted(datetime.fromisoformat(r["at"]).timestamp() for r in emulator.requests())
    peak = 0
    j = 0
    for i, at in enumerate(arrivals):  # a sliding one-second window
        while arrivals[j] <= at - 1.0:
            j += 1
        peak = max(peak, i - j + 1)
    return wall, len(arrivals), peak


def panic_rows() -> list[Row]:
    rows = []
    for consumers, calls, what in ((10, 1, "panic"), (10, 4, "panic, inactive unit")):
        urgent, single = simulate(consumers, calls=calls), simulate(consumers, calls=calls, urgent_burst=0)
        if urgent.delay is None or single.delay is None:
            raise RuntimeError(f"{what}: a call was given back")
        rows.append(
            Row(
                f"{what}, {consumers} consumers: wait",
                urgent.delay,
                "one schedule for all (urgent_burst 0)",
                single.delay,
                "s",
            )
        )
    return rows


def run() -> list[Row]:
    unpaced_wall, unpaced_calls, unpaced_peak = burst(paced=False)
    paced_wall, paced_calls, paced_peak = burst(paced=True)
    if not paced_calls == unpaced_calls == 2 * (MDTS + UNITS // PER_PUT):
        raise RuntimeError(f"the burst made {paced_calls} and {unpaced_calls} calls")
    return [
        Row(
            f"paced {RATE:.0f}/s burst {BURST}: most calls in 1 s",
            paced_peak,
            "unpaced: most calls in 1 s",
            unpaced_peak,
            "n",
        ),
        Row(
            f"paced: {paced_calls} calls, 2 consumers, wall time",
            paced_wall,
            "unpaced: wall time",
            unpaced_wall,
            "s",
        ),
        Row(
            "paced: calls a second over the burst",
            paced_calls / paced_wall,
            f"the cap ({RATE:.0f}/s; burst {BURST} first)",
            RATE,
            "n/s",
        ),
        *panic_rows(),
    ]
