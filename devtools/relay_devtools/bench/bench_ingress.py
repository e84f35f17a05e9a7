"""Ingress: warm time per webhook through the real handler, and the function's cold import.

Warm: the real `lambda_handler` (routing, Powertools logging and metrics included, printed to
/dev/null) on pre-signed Standard Webhooks deliveries of a ten-unit body, each with its own id, SQS
replaced by an in-memory publisher and the replay guard in memory. Its baseline is the bare work
that cannot be avoided: one HMAC-SHA256 of the signed message plus `json.loads` of the same body.

Cold: `import relay.handlers.ingress` (and that import followed by `wiring.ingress_deps()`: relay.toml,
settings and boto3 clients, what the first invocation adds) timed inside fresh interpreters,
median of several runs, against `import boto3` + creating an SQS client in the same way.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from relay_devtools.bench import Row, quiet

WARMUP = 200
ITERATIONS = 2000
COLD_RUNS = 7
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the public Standard Webhooks test key
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
BODY = json.dumps(
    {
        "units": [
            {
                "id": f"ADAM-{i}",
                "officer_name": "B. Bubbleton",
                "officer_badge": str(500 + i),
                "department": "Patrol",
                "rank": "PO",
                "status": "10-8",
            }
            for i in range(10)
        ]
    }
).encode()

TIMED_IMPORT = "import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
IMPORT_INGRESS = "import relay.handlers.ingress"
INGRESS_AND_DEPS = "import relay.handlers.ingress; from relay.handlers import wiring; wiring.ingress_deps()"
BOTO3_SQS = "import boto3; boto3.client('sqs')"


class MemoryPublisher:
    """Stands in for SQS: the bench measures the ingress, not the network."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, messages: Sequence[Any], delay_seconds: int = 0) -> int:
        self.sent += len(messages)
        return len(messages)


def _median_us(samples: list[int]) -> float:
    return statistics.median(samples) / 1000


def _p99_us(samples: list[int]) -> float:
    return sorted(samples)[int(len(samples) * 0.99)] / 1000


def _time_each(calls: list[Callable[[], object]]) -> list[int]:
    samples = []
    for call in calls:
        start = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - start)
    return samples


def warm_rows() -> list[Row]:
    from relay.config.loader import parse_config
    from relay.handlers.ingress import lambda_handler
    from relay.ingress.keys import decode_whsec
    from relay.ingress.pipeline import InboundRequest, IngressDeps, accept_webhook
    from relay.memory import InMemoryReplayGuard, StaticSecrets
    from relay_devtools.local.apigw import api_gateway_v2_event
    from relay_devtools.local.lambda_context import LocalLambdaContext
    from relay_devtools.webhooks.signing import sign

    config = parse_config(
        {
            "northca": {"partner_key_secret": "northca/partner-key"},
            "sources": {
                "cad": {
                    "adapter": "units",
                    "mdt_id": "0c7f6a0c-2c4f-4f44-b16a-2b6b8d8fe2c2",
                    "guild_id": "123456789012345678",
                    "signature": {"scheme": "standard-webhooks", "secret": "relay/sources/cad"},
                }
            },
        }
    )
    signature = config.sources["cad"].signature
    total = WARMUP + ITERATIONS
    deliveries = [sign(signature, BODY, SECRET, now=NOW, delivery_id=f"msg_{i}") for i in range(total)]
    events = [
        api_gateway_v2_event("POST", "/hooks/cad", "", list(d.headers.items()), d.body, "203.0.113.9")
        for d in deliveries
    ]
    context = LocalLambdaContext(function_name="ingress", timeout_seconds=10)

    def fresh_deps() -> tuple[IngressDeps, MemoryPublisher]:
        publisher = MemoryPublisher()
        deps = IngressDeps(
            config=config,
            secrets=StaticSecrets({"relay/sources/cad": SECRET}),
            publisher=publisher,
            replay=InMemoryReplayGuard(),
        )
        return deps, publisher

    def clock() -> datetime:
        return NOW

    deps, publisher = fresh_deps()
    with quiet():
        handler_samples = _time_each(
            [functools.partial(lambda_handler, e, context, deps=deps, now=clock) for e in events]
        )[WARMUP:]
    if publisher.sent != total:
        raise RuntimeError(f"bench: {publisher.sent} of {total} deliveries queued")

    logic_deps, _ = fresh_deps()
    requests = [
        InboundRequest(source="cad", headers=d.headers, body=d.body, received_at=NOW) for d in deliveries
    ]
    with quiet():
        logic_samples = _time_each([functools.partial(accept_webhook, r, logic_deps) for r in requests])[
            WARMUP:
        ]

    key = decode_whsec(SECRET)
    messages = [
        f"{d.headers['webhook-id']}.{d.headers['webhook-timestamp']}.".encode() + BODY for d in deliveries
    ]

    def bare(message: bytes) -> None:
        hmac.new(key, message, hashlib.sha256).digest()
        json.loads(BODY)

    bare_samples = _time_each([functools.partial(bare, m) for m in messages])[WARMUP:]
    baseline = "HMAC-SHA256 + json.loads, same body"
    size = f"{len(BODY)} B body, 10 units"
    return [
        Row(
            f"handler, warm, median ({size})",
            _median_us(handler_samples),
            baseline,
            _median_us(bare_samples),
            "us",
        ),
        Row("handler, warm, p99", _p99_us(handler_samples), f"{baseline}, p99", _p99_us(bare_samples), "us"),
        Row(
            "accept_webhook only (no routing/logs/EMF)",
            _median_us(logic_samples),
            baseline,
            _median_us(bare_samples),
            "us",
        ),
    ]


def _timed_in_fresh_interpreter(statement: str) -> float:
    env = os.environ | {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench",
        "REPLAY_TABLE": "bench-replay",
        "STATE_TABLE": "bench-state",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    result = subprocess.run(
        [sys.executable, "-c", TIMED_IMPORT.format(statement=statement)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    return float(result.stdout.strip().splitlines()[-1]) * 1000


def cold_rows() -> list[Row]:
    timings: dict[str, list[float]] = {IMPORT_INGRESS: [], INGRESS_AND_DEPS: [], BOTO3_SQS: []}
    for _ in range(COLD_RUNS):  # interleaved, so drift in the machine's load hits all three alike
        for statement, samples in timings.items():
            samples.append(_timed_in_fresh_interpreter(statement))
    baseline = statistics.median(timings[BOTO3_SQS])
    name = f"import boto3 + SQS client (median of {COLD_RUNS})"
    return [
        Row(
            f"import relay.handlers.ingress (median of {COLD_RUNS})",
            statistics.median(timings[IMPORT_INGRESS]),
            name,
            baseline,
            "ms",
        ),
        Row(
            "  ... + wiring.ingress_deps() (config, clients)",
            statistics.median(timings[INGRESS_AND_DEPS]),
            name,
            baseline,
            "ms",
        ),
    ]


def run() -> list[Row]:
    return warm_rows() + cold_rows()
