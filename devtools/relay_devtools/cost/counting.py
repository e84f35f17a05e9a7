"""What one webhook and one roster poll cost in AWS calls, counted rather than typed: the relay's real
handlers run in this process against moto (DynamoDB, SQS, Secrets Manager) and the Northca and ER:LC
emulators, and botocore's events count every call each function makes, with the request units and SQS
requests it is billed as. The functions' own log lines and EMF metric lines are captured
as Lambda would ship them to CloudWatch Logs.

The config is docs/sources/examples.toml (every sender as its docs page sets it up). One run:

1. a roster poll of one ER:LC server whose players come on duty (changed), then the same poll twice
   (the second unchanged one is the usual tick: the first also looks for commands held for the units
   that came on duty), each followed by the consumer;
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

import io
import json
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relay_devtools.cost.meter import (
    CountingError,
    FunctionCount,
    Meter,
    Step,
    environment,
    item_size,
    metered_sessions,
    metric_names,
)

REPO = Path(__file__).resolve().parents[3]
EVENTS = REPO / "events"
CONFIG = REPO / "docs" / "sources" / "examples.toml"
TEMPLATE = REPO / "template.yaml"
COUNTED = Path(__file__).with_name("counted.json")
PARTNER_KEY = "counted-partner-key"
ERLC_KEY = "counted-erlc-server-key"
# Changes to one unit after which its state item no longer grows (measured: the 6th, 7th and 8th are equal).
STEADY_AFTER = 7  # SQS bills each 64 KB of a request's payload as one request
# The kinds of webhook a community sends, in the order they are sent (a Sonoran status or panic needs
# its login). A call and a panic travel on their own queue in a stack: here they share the counted one
# (the same SQS requests per message), and the consumer's reads and writes of their records are counted.
KINDS = (
    "units",
    "erlc-events",
    "sonoran-login",
    "sonoran-status",
    "sonoran-911",
    "sonoran-panic",
    "typeform",
)
SAMPLES = {
    "units": ("cad", "units_body.json"),
    "erlc-events": ("erlc", "erlc_event_command.json"),
    "sonoran-login": ("sonoran", "sonoran_unit_login.json"),
    "sonoran-status": ("sonoran", "sonoran_unit_status.json"),
    "sonoran-911": ("sonoran", "sonoran_event_911.json"),
    "sonoran-panic": ("sonoran", "sonoran_unit_panic.json"),
    "typeform": ("typeform", "typeform_response.json"),
}


class Run:
    """One counted run (see the module's docstring); `result()` is what counted.json holds."""

    def __init__(self, folder: Path) -> None:
        import boto3

        from relay_devtools.emulators.erlc import ErlcEmulator
        from relay_devtools.emulators.northca import NorthcaEmulator
        from relay_devtools.files.template import (
            create_queue_with_dlq,
            create_table,
            load_template,
            queue_settings,
        )
        from relay_devtools.webhooks.signing import new_secret

        self.folder = folder
        self.aws: dict[str, Any] = {
            "sqs": boto3.client("sqs"),
            "dynamodb": boto3.client("dynamodb"),
            "secretsmanager": boto3.client("secretsmanager"),
        }
        template = load_template(TEMPLATE)
        for logical_id in ("UnitStateTable", "ReplayTable", "ArchiveTable"):
            create_table(self.aws["dynamodb"], template, logical_id, f"counted-{logical_id}")
        settings = queue_settings(TEMPLATE)
        self.queue_url, self.dlq_url = create_queue_with_dlq(
            self.aws["sqs"], "counted", visibility_timeout=settings.visibility_timeout, max_receive_count=5
        )
        self.settings = settings
        # examples.toml holds every sender as its page sets it up, relay.toml's demo `cad` among them.
        config_text = CONFIG.read_text(encoding="utf-8")
        (folder / "relay.toml").write_text(config_text, encoding="utf-8")
        from relay.config.loader import load_config

        self.config = load_config(folder / "relay.toml")
        self.signing_keys: dict[str, str | None] = {}
        self.secrets: dict[str, str] = {}
        made: dict[str, tuple[str, str | None]] = {}  # sources may share a secret (a sender's two URLs)
        for name, source in self.config.sources.items():
            secret = source.signature.secret
            if secret not in made:
                made[secret] = new_secret(source.signature.scheme)
                self.aws["secretsmanager"].create_secret(Name=secret, SecretString=made[secret][0])
            self.secrets[name], self.signing_keys[name] = made[secret]
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
            "ARCHIVE_TABLE": "counted-ArchiveTable",
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
        from relay_devtools.local.esm import MappingSettings, SqsEventSourceMapping

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
        from relay_devtools.local.apigw import api_gateway_v2_event
        from relay_devtools.local.lambda_context import LocalLambdaContext
        from relay_devtools.webhooks.signing import sign

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
        data = json.loads(answer["body"])["data"] if answer.get("statusCode") == 202 else {}
        if sum(data.get(key, 0) for key in ("changes", "calls", "panics")) < 1:
            raise CountingError(
                f"{kind}: the ingress answered {answer.get('statusCode')}: {answer.get('body')}"
            )
        if self.consume(step) < 1:
            raise CountingError(f"{kind}: nothing reached the consumer")

    def poll(self, step: Step) -> None:
        from relay.handlers.scheduled import lambda_handler
        from relay_devtools.local.lambda_context import LocalLambdaContext

        context = LocalLambdaContext(function_name="scheduled", timeout_seconds=30)
        answer = self.invoke(step, "scheduled", lambda: lambda_handler({"task": "erlc-roster"}, context))
        if any(server["result"] not in ("changed", "unchanged") for server in answer["servers"]):
            raise CountingError(f"the roster poll did not succeed: {answer}")
        self.consume(step)

    # ------------------------------------------------------------------ the run

    def run(self) -> dict[str, Any]:
        self.fresh_start()
        self.steps["poll_changed"] = {}
        self.poll(self.steps["poll_changed"])
        # Not counted: the poll after a change also looks for commands held for the units it found.
        self.poll({})
        self.steps["poll_unchanged"] = {}
        self.poll(self.steps["poll_unchanged"])
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
        with environment(fake), mock_aws():
            os.environ.pop("AWS_ENDPOINT_URL", None)
            run = Run(Path(directory))
            try:
                with environment(run.start()), metered_sessions(run.meter):
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
