"""Calls and panics through `relay local`, beside the unit path in the same run (issue 18's targets).

The stack is `relay local` in this process (moto's server, the real handlers, both event source
mappings with template.yaml's settings, the Northca emulator). A mapping source (Standard Webhooks)
sends unit changes, panics and calls. Unit changes and panics are POSTed side by side, a quarter of a
second apart, each timed from its 202 until the emulator holds it (its PUT applied, its panic
recorded): the panic's figures are read against the unit path's, which waits its batching window.
Then 20 sender calls, each event of which is delivered ten times, with a tenth of the calls' requests
faulted (5xx, answers dropped after the call was made): the emulator must hold one call per sender
call, and a call's first POST is timed as the panic's is.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from relay.config.schema import StandardWebhooksSignature
from relay.consumer.calls import call_id
from relay_devtools.bench import Row
from relay_devtools.local.stack import LocalOptions, LocalStack
from relay_devtools.webhooks.signing import sign

MDT = "0c7f6a0c-2c4f-4f44-b16a-2b6b8d8fe2c2"
GUILD = "123456789012345678"
SOURCE = "board"
PANICS = 40
UNITS = 40
CALLS = 20
COPIES = 10
SPACING = 0.25
DEADLINE = 120.0
TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
CONFIG = f"""[northca]
partner_key_secret = "northca/partner-key"

[sources.{SOURCE}]
adapter = "mapping"
mdt_id = "{MDT}"
guild_id = "{GUILD}"
signature = {{ scheme = "standard-webhooks", secret = "relay/sources/{SOURCE}" }}
[sources.{SOURCE}.options]
units = "units"
fields = {{ id = "id", status = "status" }}
[sources.{SOURCE}.options.panics]
items = "panics"
unit = "unit"
key = "press"
[sources.{SOURCE}.options.calls]
items = "calls"
key = "key"
fields = {{ location = "location" }}
"""


class Sender:
    def __init__(self, stack: LocalStack) -> None:
        self.url = f"{stack.ingress_url}/{SOURCE}"
        self.secret = stack.secrets.newest(f"relay/sources/{SOURCE}")
        self.config = StandardWebhooksSignature(scheme="standard-webhooks", secret=f"relay/sources/{SOURCE}")
        self.sent = 0

    def post(self, body: dict[str, Any]) -> float:
        """POST a signed body; the monotonic time its 202 came back."""
        self.sent += 1
        delivery = sign(
            self.config, json.dumps(body).encode(), self.secret, delivery_id=f"msg_bench_{self.sent}"
        )
        # relay local on loopback (an http URL it printed)
        request = urllib.request.Request(  # noqa: S310
            self.url, data=delivery.body, headers=delivery.headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            assert response.status == 202, response.status
        return time.monotonic()


def wait_for(seen: Callable[[], bool]) -> float:
    deadline = time.monotonic() + DEADLINE
    while not seen():
        if time.monotonic() > deadline:
            raise TimeoutError("relay local did not deliver it in time")
        time.sleep(0.002)
    return time.monotonic()


def unit_holds(emulator: Any, unit: str, status: str) -> Callable[[], bool]:
    return lambda: bool(emulator.units(MDT).get(unit, {}).get("status") == status)


def panicked(emulator: Any, unit: str) -> Callable[[], bool]:
    return lambda: any(p["unit_id"] == unit for p in emulator.panics(MDT))


def holds_call(emulator: Any, call: str) -> Callable[[], bool]:
    return lambda: any(c["id"] == call for c in emulator.calls(MDT))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def side_by_side(stack: LocalStack, sender: Sender) -> tuple[list[float], list[float]]:
    """Unit changes and panics posted together: each one's seconds from its 202 to the emulator."""
    emulator = stack.emulator
    assert emulator is not None
    units: list[float] = []
    panics: list[float] = []

    def unit_path() -> None:
        for n in range(UNITS):
            status = f"10-{n}"
            answered = sender.post({"units": [{"id": f"U-{n}", "status": status}], "panics": [], "calls": []})
            units.append(wait_for(unit_holds(emulator, f"U-{n}", status)) - answered)
            time.sleep(SPACING)

    thread = threading.Thread(target=unit_path, daemon=True)
    thread.start()
    for n in range(PANICS):
        unit = f"P-{n}"
        emulator.edit(MDT, unit, {"status": "10-8"})
        answered = sender.post({"units": [], "panics": [{"unit": unit, "press": f"p{n}"}], "calls": []})
        panics.append(wait_for(panicked(emulator, unit)) - answered)
        time.sleep(SPACING)
    thread.join()
    return units, panics


def duplicated_calls(stack: LocalStack, sender: Sender) -> tuple[list[float], int, int]:
    """Each of CALLS calls' first POST timed; then CALLS more, each delivered COPIES times while a
    tenth of the calls' requests fail (500s, answers dropped after the partner applied them):
    (first-create seconds, calls held, creates POSTed)."""
    emulator = stack.emulator
    assert emulator is not None
    firsts: list[float] = []
    for n in range(CALLS):
        answered = sender.post({"units": [], "panics": [], "calls": [{"key": f"c{n}", "location": f"L{n}"}]})
        firsts.append(wait_for(holds_call(emulator, call_id(SOURCE, f"c{n}"))) - answered)
    faulted = COPIES * CALLS // 10
    emulator.add_faults(
        [
            {"kind": "status", "status": 500, "target": "calls", "count": faulted // 2},
            {"kind": "apply_then_drop", "target": "calls", "count": faulted // 2},
        ]
    )
    for copy in range(COPIES):
        for n in range(CALLS, 2 * CALLS):
            sender.post({"units": [], "panics": [], "calls": [{"key": f"c{n}", "location": f"L{n}-{copy}"}]})
    wait_for(lambda: _drained(stack))
    creates = sum(1 for r in emulator.requests() if r["method"] == "POST" and r["path"].endswith("/calls"))
    return firsts, len(emulator.calls(MDT)), creates


def _drained(stack: LocalStack) -> bool:
    import boto3

    sqs = boto3.client("sqs")
    for url in (stack.queue_url, stack.emergency_queue_url):
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if int(attributes["ApproximateNumberOfMessages"]) or int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        ):
            return False
    return True


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        config = root / "relay.toml"
        config.write_text(CONFIG, encoding="utf-8")
        stack = LocalStack(
            LocalOptions(
                config=config, secrets=root / "relay.secrets.toml", template=TEMPLATE, port=0, emulator_port=0
            )
        )
        stack.start()
        try:
            sender = Sender(stack)
            units, panics = side_by_side(stack, sender)
            firsts, held, creates = duplicated_calls(stack, sender)
        finally:
            stack.stop()
    unit_median = statistics.median(units)
    return [
        Row(
            f"panic: 202 -> partner POST, median ({PANICS})",
            statistics.median(panics),
            "unit change: 202 -> PUT, median",
            unit_median,
            "s",
        ),
        Row(
            "panic: 202 -> partner POST, p99",
            percentile(panics, 0.99),
            "unit change: 202 -> PUT, p99",
            percentile(units, 0.99),
            "s",
        ),
        Row(
            f"call: 202 -> first POST, median ({CALLS})",
            statistics.median(firsts),
            "unit change: 202 -> PUT, median",
            unit_median,
            "s",
        ),
        Row(f"calls held per sender call ({COPIES}x copies, faults)", held / (2 * CALLS), "one", 1.0, ""),
        Row("create POSTs per sender call", creates / (2 * CALLS), "one", 1.0, ""),
    ]
