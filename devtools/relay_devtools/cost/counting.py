"""What one webhook and one roster poll cost in AWS calls, counted rather than typed: the relay's real
handlers run in this process against moto (DynamoDB, SQS, Secrets Manager) and the Northca and ER:LC
emulators, and botocore's events count every call each function makes, with the request units and SQS
requests it is billed as. The functions' own log lines and EMF metric lines are captured
as Lambda would ship them to CloudWatch Logs.

The config is docs/sources/examples.toml (every sender as its docs page sets it up). One run:

1. a roster poll of one ER:LC server whose players come on duty (changed), then the same poll again
   (unchanged: the usual tick), each followed by the consumer;
2. one webhook of each kind a community sends, each alone in its consumer batch (sparse traffic:
   no merging), each after a fresh start of every function (so its secrets are fetched: counted
   apart, as `secret_fetches`, since Powertools caches them for 5 minutes);
3. right after the first `units` webhook, another on warm functions, to show what the caches save,
   and one more once that unit's state item has stopped growing (`webhook:units:steady`);
4. a request with a wrong signature (what a stranger's flood costs, request by request).

`relay cost --recount` writes the result to counted.json beside this module; `relay cost` prices it;
tests/integration/test_cost_counts.py runs it again and fails when it drifts from counted.json.
What is not counted here (Lambda's durations, its own SQS polling, platform log lines) is an
assumption in relay_devtools.cost.model, named as such.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
EVENTS = REPO / "events"
CONFIG = REPO / "docs" / "sources" / "examples.toml"
TEMPLATE = REPO / "template.yaml"
COUNTED = Path(__file__).with_name("counted.json")
PARTNER_KEY = "counted-partner-key"
ERLC_KEY = "counted-erlc-server-key"
SQS_CHUNK = 64 * 1024
# Changes to one unit after which its state item no longer grows (measured: the 6th, 7th and 8th are equal).
STEADY_AFTER = 7  # SQS bills each 64 KB of a request's payload as one request
# The kinds of webhook a community sends, in the order they are sent (a Sonoran status needs its login).
KINDS = ("units", "erlc-events", "sonoran-login", "sonoran-status", "typeform")
SAMPLES = {
    "units": ("cad", "units_body.json"),
    "erlc-events": ("erlc", "erlc_event_command.json"),
    "sonoran-login": ("sonoran", "sonoran_unit_login.json"),
    "sonoran-status": ("sonoran", "sonoran_unit_status.json"),
    "typeform": ("typeform", "typeform_response.json"),
}
CAD_SOURCE = """
[sources.cad]
adapter = "units"
mdt_id = "0c7f6a0c-2c4f-4f44-b16a-2b6b8d8fe2c2"
guild_id = "123456789012345678"
signature = { scheme = "standard-webhooks", secret = "relay/sources/cad" }
"""


class CountingError(Exception):
    """The counted run did not go as a real one would (a webhook refused, a unit not written)."""


@dataclass
class FunctionCount:
    """What one function did in one step of the run."""

    invocations: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    secret_fetches: int = 0
    read_units: float = 0.0
    write_units: float = 0.0
    sqs_requests: int = 0
    log_lines: int = 0
    log_bytes: int = 0
    emf_bytes: int = 0
    metrics: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "invocations": self.invocations,
            "calls": dict(sorted(self.calls.items())),
            "secret_fetches": self.secret_fetches,
            "read_units": self.read_units,
            "write_units": self.write_units,
            "sqs_requests": self.sqs_requests,
            "log_lines": self.log_lines,
            "log_bytes": self.log_bytes,
            "emf_bytes": self.emf_bytes,
            "metrics": sorted(self.metrics),
        }


Step = dict[str, FunctionCount]


class Meter:
    """Counts every AWS call of the function running now (`current`), with what it is billed as: its
    parameters from botocore's `before-parameter-build` event, DynamoDB's request units from the items
    themselves (read back through an unmetered client: a write is billed on the larger of the item
    before and after it, per 1 KB; a read per 4 KB of each item returned). It never raises into the
    relay's code (which would take it for an AWS failure): what it cannot price is kept in `errors` and
    reported after the step."""

    BEFORE = "before-parameter-build.*.*"
    AFTER = "after-call.dynamodb.*"
    KEYS = ("pk", "sk")  # template.yaml's tables' key attributes

    def __init__(self, inspect: Any) -> None:
        self.inspect = inspect  # a DynamoDB client of another session: its calls are not metered
        self.current: Step | None = None
        self.function = ""
        self.errors: list[str] = []

    def register(self, events: Any) -> None:
        events.register(self.BEFORE, self.before)
        events.register(self.AFTER, self.after)

    def before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        try:
            self._before(model, params, context)
        except Exception as exc:  # noqa: BLE001 - reported after the step, never raised into the relay
            self.errors.append(f"{model.name}: {type(exc).__name__}: {exc}")

    def after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        try:
            self._after(model, parsed, context)
        except Exception as exc:  # noqa: BLE001 - as above
            self.errors.append(f"{model.name}: {type(exc).__name__}: {exc}")

    def _count(self) -> FunctionCount | None:
        if self.current is None:
            return None
        return self.current.setdefault(self.function, FunctionCount())

    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any]) -> None:
        count = self._count()
        if count is None:
            return
        service = model.service_model.service_name
        count.calls[f"{service}:{model.name}"] += 1
        if (service, model.name) == ("secretsmanager", "GetSecretValue"):
            count.secret_fetches += 1
        if service == "sqs":
            count.sqs_requests += sqs_requests(params)
        if service == "dynamodb":
            context["meter"] = {"params": params, "before": self._written_item_sizes(model.name, params)}

    def _after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any]) -> None:
        count, noted = self._count(), context.get("meter")
        if count is None or noted is None:
            return
        params = noted["params"]
        if model.name == "GetItem":
            count.read_units += read_units([parsed.get("Item", {})], params.get("ConsistentRead", False))
        elif model.name == "BatchGetItem":
            for table, items in parsed.get("Responses", {}).items():
                consistent = params["RequestItems"][table].get("ConsistentRead", False)
                count.read_units += read_units(items, consistent)
        elif model.name in ("PutItem", "UpdateItem", "DeleteItem"):
            # A refused conditional write is billed too: on the item as it is.
            after = self._written_item_sizes(model.name, params)
            count.write_units += sum(
                max(1, math.ceil(max(b, a) / 1024)) for b, a in zip(noted["before"], after, strict=True)
            )
        else:
            raise CountingError(f"DynamoDB {model.name}: not priced by relay cost yet")

    def _written_item_sizes(self, operation: str, params: dict[str, Any]) -> list[int]:
        if operation not in ("PutItem", "UpdateItem", "DeleteItem"):
            return []
        key = params.get("Key") or {k: v for k, v in params["Item"].items() if k in self.KEYS}
        item = self.inspect.get_item(TableName=params["TableName"], Key=key, ConsistentRead=True).get("Item")
        return [item_size(item) if item else 0]


def read_units(items: list[dict[str, Any]], consistent: bool) -> float:
    """Per item read, 4 KB rounded up (1 unit at the least), halved when eventually consistent
    (aws.amazon.com/dynamodb/pricing/on-demand)."""
    units = sum(max(1, math.ceil(item_size(item) / 4096)) for item in items) or 1
    return units if consistent else units / 2


def sqs_requests(params: dict[str, Any]) -> int:
    """SQS bills a call once per 64 KB of its payload (bodies and attributes)."""
    entries = params.get("Entries") or [params]
    size = sum(len(str(entry.get("MessageBody", "")).encode()) for entry in entries)
    size += sum(len(json.dumps(entry.get("MessageAttributes", {}))) for entry in entries)
    return max(1, math.ceil(size / SQS_CHUNK))


def metric_names(emf: str) -> set[str]:
    return {
        metric["Name"]
        for line in emf.splitlines()
        if line.startswith("{")
        for directive in json.loads(line).get("_aws", {}).get("CloudWatchMetrics", [])
        for metric in directive["Metrics"]
    }


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it, a little over: names and values in UTF-8, numbers at
    their text length, 3 bytes per map or list and 1 per element."""

    def size(value: dict[str, Any]) -> int:
        [(kind, inner)] = value.items()
        if kind in ("S", "N", "B"):
            return len(str(inner).encode())
        if kind == "M":
            return 3 + sum(len(k.encode()) + 1 + size(v) for k, v in inner.items())
        if kind == "L":
            return 3 + sum(1 + size(v) for v in inner)
        if kind in ("SS", "NS", "BS"):
            return sum(len(str(v).encode()) for v in inner)
        return 1  # BOOL, NULL

    return sum(len(name.encode()) + size(value) for name, value in item.items())


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class Run:
    """One counted run (see the module's docstring); `result()` is what counted.json holds."""

    def __init__(self, folder: Path) -> None:
        import boto3

        from relay_devtools.emulator import NorthcaEmulator
        from relay_devtools.erlc_emulator import ErlcEmulator
        from relay_devtools.signing import new_secret
        from relay_devtools.template import create_queue_with_dlq, create_table, load_template, queue_settings

        self.folder = folder
        self.aws: dict[str, Any] = {
            "sqs": boto3.client("sqs"),
            "dynamodb": boto3.client("dynamodb"),
            "secretsmanager": boto3.client("secretsmanager"),
        }
        template = load_template(TEMPLATE)
        for logical_id in ("UnitStateTable", "ReplayTable"):
            create_table(self.aws["dynamodb"], template, logical_id, f"counted-{logical_id}")
        settings = queue_settings(TEMPLATE)
        self.queue_url, self.dlq_url = create_queue_with_dlq(
            self.aws["sqs"], "counted", visibility_timeout=settings.visibility_timeout, max_receive_count=5
        )
        self.settings = settings
        config_text = CONFIG.read_text(encoding="utf-8") + CAD_SOURCE
        (folder / "relay.toml").write_text(config_text, encoding="utf-8")
        from relay.sources.registry import load_config

        self.config = load_config(folder / "relay.toml")
        self.signing_keys: dict[str, str | None] = {}
        self.secrets: dict[str, str] = {}
        for name, source in self.config.sources.items():
            value, private = new_secret(source.signature.scheme)
            self.secrets[name], self.signing_keys[name] = value, private
            self.aws["secretsmanager"].create_secret(Name=source.signature.secret, SecretString=value)
        partner_key_secret = self.config.northca.partner_key_secret
        self.aws["secretsmanager"].create_secret(Name=partner_key_secret, SecretString=PARTNER_KEY)
        for server in self.config.erlc.servers.values():
            self.aws["secretsmanager"].create_secret(Name=server.server_key_secret, SecretString=ERLC_KEY)
        links = {s.mdt_id: s.guild_id for s in self.config.sources.values()}
        self.northca = NorthcaEmulator([PARTNER_KEY], links)
        roster = json.loads((EVENTS / "erlc_v2_server.json").read_text(encoding="utf-8"))["Players"]
        self.erlc = ErlcEmulator([ERLC_KEY], roster)
        self.meter = Meter(boto3.session.Session().client("dynamodb"))
        self.logs = io.StringIO()
        self.steps: dict[str, Step] = {}

    # ------------------------------------------------------------------ running the functions

    def start(self) -> dict[str, str]:
        northca_url, erlc_url = self.northca.start(), self.erlc.start()
        return {
            "QUEUE_URL": self.queue_url,
            "DLQ_URL": self.dlq_url,
            "STATE_TABLE": "counted-UnitStateTable",
            "REPLAY_TABLE": "counted-ReplayTable",
            "RELAY_CONFIG": str(self.folder / "relay.toml"),
            "NORTHCA_BASE_URL": northca_url,
            "ERLC_BASE_URL": erlc_url,
            # What the template gives a stack with DetailedMonitoring: the metrics are counted too.
            "POWERTOOLS_METRICS_DISABLED": "false",
            "POWERTOOLS_METRICS_NAMESPACE": "NorthcaRelay/northca-relay",
            "POWERTOOLS_SERVICE_NAME": "northca-relay",
        }

    def stop(self) -> None:
        self.northca.stop()
        self.erlc.stop()

    def fresh_start(self) -> None:
        """Every function starts anew (a cold start): new clients, no cached secret or config."""
        import boto3
        from aws_lambda_powertools.utilities import parameters

        from relay.handlers import wiring

        wiring.reset()
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        boto3.setup_default_session()

    def invoke(self, step: Step, function: str, handler: Callable[[], Any]) -> Any:
        from relay_devtools.cost import quiet_capture

        self.meter.current, self.meter.function = step, function
        count = step.setdefault(function, FunctionCount())
        emf = io.StringIO()
        try:
            with quiet_capture(self.logs, emf):
                answer = handler()
        finally:
            self.meter.current = None
        if self.meter.errors:
            raise CountingError(f"{function}: calls relay cost cannot price: {self.meter.errors}")
        shipped = self.logs.getvalue()
        self.logs.seek(0)
        self.logs.truncate()
        count.invocations += 1
        count.log_lines += len(shipped.splitlines())
        count.log_bytes += len(shipped.encode())
        count.emf_bytes += len(emf.getvalue().encode())
        count.metrics |= metric_names(emf.getvalue())
        return answer

    def consume(self, step: Step) -> int:
        """The consumer, one batch after another, until the queue is empty (as Lambda's poller)."""
        import boto3

        from relay.handlers.consumer import lambda_handler
        from relay_devtools.esm import MappingSettings, SqsEventSourceMapping

        # The mapping's own calls are Lambda's, not the function's: its client is not metered.
        session = boto3.session.Session()
        mapping = SqsEventSourceMapping(
            session.client("sqs"),
            self.queue_url,
            lambda event, context: self.invoke(step, "consumer", lambda: lambda_handler(event, context)),
            MappingSettings(batch_size=self.settings.batch_size, window_seconds=0),
        )
        invocations = mapping.drain()
        if mapping.stats.failed or mapping.stats.handler_errors:
            raise CountingError(f"the consumer failed: {mapping.stats.history}")
        return invocations

    def webhook(self, step: Step, kind: str, sequence: int, *, forged: bool = False) -> None:
        from relay.handlers.ingress import lambda_handler
        from relay_devtools.apigw import api_gateway_v2_event
        from relay_devtools.lambda_context import LocalLambdaContext
        from relay_devtools.signing import sign

        source_name, sample = SAMPLES[kind]
        body = json.loads((EVENTS / sample).read_text(encoding="utf-8"))
        now = datetime.now(UTC)
        # Each webhook a change the MDT does not hold yet, newer than anything before it: a PUT.
        if kind == "typeform":
            body["event_id"] = f"counted-{sequence}"  # its replay key: each delivery its own
            body["form_response"]["submitted_at"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        if kind == "units":
            stamp = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # one width always: counted bytes stay comparable
            body["units"] = [body["units"][0] | {"status": f"10-{sequence}", "at": stamp}]
        if kind == "erlc-events":
            body["Timestamp"] = int(now.timestamp())
        source = self.config.sources[source_name]
        secret = "whsec_" + "A" * 43 + "=" if forged else self.secrets[source_name]
        signed = sign(
            source.signature,
            json.dumps(body).encode(),
            secret,
            now=now,
            private_key=self.signing_keys[source_name],
            delivery_id=f"msg_counted_{sequence}",
        )
        path = f"/hooks/{source_name}" + (f"/{signed.path_token}" if signed.path_token else "")
        headers = list(signed.headers.items())
        event = api_gateway_v2_event("POST", path, "", headers, signed.body, "203.0.113.7")
        context = LocalLambdaContext(function_name="ingress", timeout_seconds=5)
        answer = self.invoke(step, "ingress", lambda: lambda_handler(event, context))
        if forged:
            if answer.get("statusCode") != 401:
                raise CountingError(f"a forged signature was answered {answer.get('statusCode')}")
            return
        if answer.get("statusCode") != 202 or json.loads(answer["body"])["data"]["changes"] < 1:
            raise CountingError(
                f"{kind}: the ingress answered {answer.get('statusCode')}: {answer.get('body')}"
            )
        if self.consume(step) < 1:
            raise CountingError(f"{kind}: nothing reached the consumer")

    def poll(self, step: Step) -> None:
        from relay.handlers.scheduled import lambda_handler
        from relay_devtools.lambda_context import LocalLambdaContext

        context = LocalLambdaContext(function_name="scheduled", timeout_seconds=30)
        answer = self.invoke(step, "scheduled", lambda: lambda_handler({"task": "erlc-roster"}, context))
        if any(server["result"] not in ("changed", "unchanged") for server in answer["servers"]):
            raise CountingError(f"the roster poll did not succeed: {answer}")
        self.consume(step)

    # ------------------------------------------------------------------ the run

    def run(self) -> dict[str, Any]:
        self.fresh_start()
        for name in ("poll_changed", "poll_unchanged"):
            self.steps[name] = {}
            self.poll(self.steps[name])
        for sequence, kind in enumerate(KINDS, start=1):
            self.fresh_start()
            self.steps[f"webhook:{kind}"] = {}
            self.webhook(self.steps[f"webhook:{kind}"], kind, sequence)
            if kind == "units":  # the same again on warm functions: what the caches save
                self.steps["webhook:units:warm"] = {}
                self.webhook(self.steps["webhook:units:warm"], "units", 100)
                # A unit's state item grows with the changes sent to it (each field keeps its last
                # few), up to a steady size: what a unit that changes all evening costs per change.
                for sequence in range(101, 101 + STEADY_AFTER):
                    self.webhook({}, "units", sequence)
                self.steps["webhook:units:steady"] = {}
                self.webhook(self.steps["webhook:units:steady"], "units", 101 + STEADY_AFTER)
        self.steps["refused"] = {}
        self.webhook(self.steps["refused"], "units", 200, forged=True)
        return self.result()

    def result(self) -> dict[str, Any]:
        largest = 0
        for table in ("counted-UnitStateTable", "counted-ReplayTable"):
            for item in self.aws["dynamodb"].scan(TableName=table)["Items"]:
                largest = max(largest, item_size(item))
        return {
            "steps": {
                name: {function: count.as_dict() for function, count in sorted(step.items())}
                for name, step in self.steps.items()
            },
            "largest_item_bytes": largest,  # for the reader: the units count each item's own size
        }


@contextlib.contextmanager
def metered_sessions(meter: Meter) -> Iterator[None]:
    """Every boto3 session made from now on carries the meter's hooks: the relay's clients come from
    the default session, Powertools' secrets provider makes a session of its own."""
    import boto3.session

    original = boto3.session.Session.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        meter.register(self.events)

    boto3.session.Session.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        boto3.session.Session.__init__ = original  # type: ignore[method-assign]


def count() -> dict[str, Any]:
    """One counted run in a private moto account (no AWS variable of the caller is used or changed)."""
    from moto import mock_aws

    from relay.handlers import wiring

    with tempfile.TemporaryDirectory() as directory:
        fake = {
            "AWS_ACCESS_KEY_ID": "counting",
            "AWS_SECRET_ACCESS_KEY": "counting",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }
        with _environment(fake), mock_aws():
            os.environ.pop("AWS_ENDPOINT_URL", None)
            run = Run(Path(directory))
            try:
                with _environment(run.start()), metered_sessions(run.meter):
                    return run.run()
            finally:
                run.stop()
                wiring.reset()


def write_counted(path: Path = COUNTED) -> dict[str, Any]:
    counted = count()
    path.write_text(json.dumps(counted, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return counted


def read_counted(path: Path = COUNTED) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
