"""`relay local` end to end: a burst of signed webhooks until the emulated MDT holds every newest value.

The stack is `relay local` itself (moto's server, the real ingress and consumer handlers, the event
source mapping with template.yaml's batch size and window, the Northca emulator), in this process, on
free ports. 2,000 Standard Webhooks deliveries, each one unit's new status, over 200 units in 2 MDTs,
are POSTed by 8 sender threads over keep-alive connections; the clock stops when the emulator holds
every unit's newest status. The baseline is the same 2,000 requests to a loopback server that answers
202 at once: what the machine's HTTP costs, measured in the same run. The PUT row counts the upserts
the emulator received against one per webhook.
"""

from __future__ import annotations

import http.client
import json
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from relay.config.schema import StandardWebhooksSignature
from relay_devtools.bench import Row
from relay_devtools.emulators.loopback import LoopbackServer, Reply
from relay_devtools.local.stack import LocalOptions, LocalStack
from relay_devtools.webhooks.signing import sign

WEBHOOKS = 2_000
UNITS_PER_MDT = 100
SENDERS = 8
DEADLINE_SECONDS = 600
MDTS = {"cad": "0c7f6a0c-2c4f-4f44-b16a-2b6b8d8fe2c2", "dispatch": "5d9b3c1e-7a2f-4c3e-9b1d-2e6f8a0c4b7d"}
GUILD = "123456789012345678"
Deliveries = list[tuple[str, bytes, dict[str, str]]]
TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


def _config(directory: Path) -> Path:
    sources = "".join(
        f"""
[sources.{name}]
adapter = "units"
mdt_id = "{mdt}"
guild_id = "{GUILD}"
signature = {{ scheme = "standard-webhooks", secret = "relay/sources/{name}" }}
"""
        for name, mdt in MDTS.items()
    )
    path = directory / "relay.toml"
    path.write_text(
        '[northca]\nbase_url = "https://api.northca.dev/v1"\npartner_key_secret = "northca/partner-key"\n'
        + sources,
        encoding="utf-8",
    )
    return path


def _deliveries(stack: LocalStack) -> Deliveries:
    """(path, body, headers) of every webhook, and the newest status each unit must end with."""
    deliveries = []
    now = datetime.now(UTC)
    for seq in range(WEBHOOKS):
        source = list(MDTS)[seq % len(MDTS)]
        unit = f"UNIT-{(seq // len(MDTS)) % UNITS_PER_MDT:03d}"
        body = json.dumps({"units": [{"id": unit, "status": f"10-{seq}"}]}).encode()
        secret = stack.secrets.newest(f"relay/sources/{source}")
        config = StandardWebhooksSignature(scheme="standard-webhooks", secret=f"relay/sources/{source}")
        signed = sign(config, body, secret, now=now, delivery_id=f"msg_bench_{seq}")
        deliveries.append((f"{urlsplit(stack.ingress_url).path}/{source}", signed.body, signed.headers))
    return deliveries


def _newest(deliveries: Deliveries) -> dict[tuple[str, str], str]:
    newest: dict[tuple[str, str], str] = {}
    for path, body, _ in deliveries:
        unit = json.loads(body)["units"][0]
        newest[(MDTS[path.rsplit("/", 1)[1]], unit["id"])] = unit["status"]
    return newest


def _post_all(base_url: str, deliveries: Deliveries) -> list[int]:
    """POST every delivery from SENDERS threads, each on one keep-alive connection; the statuses."""
    parts = urlsplit(base_url)
    statuses: list[int] = []
    lock = threading.Lock()

    def sender(share: Deliveries) -> None:
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        mine = []
        for path, body, headers in share:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append(response.status)
        connection.close()
        with lock:
            statuses.extend(mine)

    threads = [
        threading.Thread(target=sender, args=(deliveries[i::SENDERS],), daemon=True) for i in range(SENDERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def _wait_until(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the stack did not converge in {DEADLINE_SECONDS} s")
        time.sleep(0.05)


def relay_local_burst() -> tuple[float, float, int, int, Deliveries]:
    """Seconds from the first POST until the emulator holds every newest value, and until the last
    POST was answered; the PUTs, the 2xx answers, and the deliveries (for the baseline)."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        stack = LocalStack(
            LocalOptions(
                config=_config(root),
                secrets=root / "relay.secrets.toml",
                template=TEMPLATE,
                port=0,
                emulator_port=0,
            )
        )
        stack.start()
        try:
            assert stack.emulator is not None
            emulator = stack.emulator
            deliveries = _deliveries(stack)
            newest = _newest(deliveries)
            base = stack.ingress_url.rsplit("/hooks", 1)[0]
            started = time.monotonic()
            statuses = _post_all(base, deliveries)
            posted = time.monotonic() - started

            def converged() -> bool:
                return all(
                    emulator.units(mdt).get(unit, {}).get("status") == status
                    for (mdt, unit), status in newest.items()
                )

            _wait_until(converged)
            seconds = time.monotonic() - started
            puts = sum(1 for entry in emulator.requests() if entry.get("method") == "PUT")
            accepted = sum(1 for status in statuses if 200 <= status < 300)
            return seconds, posted, puts, accepted, deliveries
        finally:
            stack.stop()


def bare_http_burst(deliveries: Deliveries) -> float:
    """The same requests answered 202 at once by the same loopback server: the HTTP floor."""
    server = LoopbackServer(("127.0.0.1", 0), lambda request: Reply.json(202, {"ok": True}))
    base = server.start("bench-bare")
    try:
        started = time.monotonic()
        _post_all(base, deliveries)
        return time.monotonic() - started
    finally:
        server.stop()


def run() -> list[Row]:
    seconds, posted, puts, accepted, deliveries = relay_local_burst()
    bare = bare_http_burst(deliveries)
    return [
        Row(
            f"relay local: {WEBHOOKS:,} webhooks, {WEBHOOKS / seconds:.0f}/s"
            f" ({accepted} 2xx, all answered at {posted:.0f} s)",
            seconds,
            "the same POSTs answered 202 at once",
            bare,
            "s",
        ),
        Row("relay local: PUTs for the burst", puts, "one PUT per webhook", WEBHOOKS, ""),
    ]
