"""`relay local`: the whole pipeline on one machine, no AWS account and no Docker.

- moto's server holds the queue, DLQ, tables and secrets that template.yaml declares (aws.py);
- the Northca emulator stands in for the partner, unless --northca-url points at a real one;
- an HTTP server turns each request into an HTTP API v2 event for the real ingress handler (ingress.py);
- the consumer is driven like Lambda's SQS event source mappings, with the template's settings (esm.py):
  one on the webhook queue (its batching window), one on the calls' and panics' queue (none);
- the ER:LC roster poll runs on the template's schedule, against the ER:LC emulator unless --erlc-url;
- the three functions run side by side as in Lambda, each one invocation at a time (isolation.py).

The real handlers build their clients from the environment exactly as in Lambda; aws.py only sets
that environment (endpoint, queue URLs, table names) before their first call.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from relay.config.loader import load_config
from relay.config.schema import ErlcServerConfig, RelayConfig, SourceConfig
from relay.observability import logger, metrics
from relay_devtools.deliveries.feed import RecordBuffer
from relay_devtools.emulators.erlc import ErlcEmulator
from relay_devtools.emulators.loopback import LoopbackServer
from relay_devtools.emulators.northca import NorthcaEmulator
from relay_devtools.files.secrets_file import SecretsFile, SecretsPlan, plan_secrets_file, write_secrets_file
from relay_devtools.files.template import QueueSettings, queue_settings
from relay_devtools.local.aws import REGION, LocalAws, put_secrets
from relay_devtools.local.esm import MappingSettings, SqsEventSourceMapping
from relay_devtools.local.ingress import feed_pages, make_ingress_server
from relay_devtools.local.isolation import FunctionLocks, isolate_powertools, release_powertools
from relay_devtools.local.lambda_context import LocalLambdaContext


class PortInUseError(Exception):
    """A port relay local was asked to serve on is taken; `option` is the flag that picks another."""

    def __init__(self, port: int, option: str) -> None:
        super().__init__(f"port {port} is already in use (choose another with {option})")
        self.port, self.option = port, option


@dataclass
class LocalOptions:
    config: Path = Path("relay.toml")
    secrets: Path = Path("relay.secrets.toml")
    template: Path = Path("template.yaml")
    host: str = "127.0.0.1"
    port: int = 3000
    emulator_port: int = 4010
    moto_port: int = 0
    northca_url: str | None = None
    # Overrides of the template's queue settings, for tests that cannot wait six minutes.
    visibility_timeout: int | None = None
    window_seconds: float | None = None
    # ER:LC servers in relay.toml are polled on the template's schedule, against the local ER:LC
    # emulator unless --erlc-url points elsewhere; tests shorten the period.
    erlc_emulator_port: int = 4020
    erlc_url: str | None = None
    roster_poll_seconds: float | None = None
    # Where the running stack's endpoints are written for the other commands (`relay redrive`); None: nowhere.
    state_file: Path | None = None


@dataclass
class LocalStack:
    options: LocalOptions
    config: RelayConfig = field(init=False)
    secrets: SecretsFile = field(init=False)
    secrets_plan: SecretsPlan | None = field(init=False, default=None)
    queue: QueueSettings = field(init=False)
    records: RecordBuffer = field(init=False)
    emulator: NorthcaEmulator | None = field(init=False, default=None)
    erlc_emulator: ErlcEmulator | None = field(init=False, default=None)
    erlc_url: str = field(init=False, default="")
    mapping: SqsEventSourceMapping | None = field(init=False, default=None)
    emergency_mapping: SqsEventSourceMapping | None = field(init=False, default=None)
    ingress_url: str = field(init=False, default="")
    northca_url: str = field(init=False, default="")
    queue_url: str = field(init=False, default="")
    emergency_queue_url: str = field(init=False, default="")
    dlq_url: str = field(init=False, default="")
    aws_endpoint: str = field(init=False, default="")
    _aws: LocalAws | None = field(init=False, default=None)
    _log_level: int | None = field(init=False, default=None)
    _serializer: Callable[..., str] | None = field(init=False, default=None)
    # One invocation of each function at a time, the functions side by side as in Lambda (isolation.py);
    # what replaces the config or secrets holds `functions.exclusive()`, between invocations.
    functions: FunctionLocks = field(init=False, default_factory=FunctionLocks)
    _wrote_state: bool = field(init=False, default=False)
    _ingress: LoopbackServer | None = field(init=False, default=None)
    _stop: threading.Event = field(init=False, default_factory=threading.Event)
    _threads: list[threading.Thread] = field(init=False, default_factory=list)

    def start(self) -> None:
        """Everything, or nothing: a port in use is found before anything starts, and the secrets file
        is written only once the stack runs."""
        o = self.options
        self.config = load_config(o.config)
        self.secrets_plan = plan_secrets_file(o.secrets, self.config)
        self.secrets = self.secrets_plan.content
        self.queue = queue_settings(o.template)
        self._check_ports()
        self._capture_logs()
        self._start_aws()
        self._start_northca()
        self._start_erlc()
        self._start_ingress()
        self._start_consumer()
        self._start_schedules()
        if self.secrets_plan.changed:
            write_secrets_file(o.secrets, self.secrets)
        self._write_state_file()

    def _ports(self) -> list[tuple[int, str]]:
        o = self.options
        ports = [(o.port, "--port")]
        if not o.northca_url:
            ports.append((o.emulator_port, "--emulator-port"))
        if self.config.erlc.servers and not o.erlc_url:
            ports.append((o.erlc_emulator_port, "--erlc-emulator-port"))
        return ports

    def _check_ports(self) -> None:
        for port, option in self._ports():
            if port == 0:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                # As the servers bind (http.server's allow_reuse_address): a port whose last connections
                # are in TIME-WAIT, after a restart within a minute, is free; one with a listener is not.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((self.options.host, port))
                except OSError as exc:
                    if exc.errno == errno.EADDRINUSE:
                        raise PortInUseError(port, option) from None
                    raise

    def _serving[T](self, port: int, option: str, start: Callable[[], T]) -> T:
        """Start a server, naming the port when it is taken after all (a race with another program)."""
        try:
            return start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(port, option) from None
            raise

    def _capture_logs(self) -> None:
        """The relay's log records, kept for the deliveries feed. The logger is opened to INFO (the
        delivery trail's level) while the terminal keeps the level it was given. Its lines are written
        as ASCII JSON while relay local runs: Lambda's keep a sender's text as it is (CloudWatch shows
        it), but a terminal would act on its C1 controls and bidi overrides (U+009B, U+202E)."""
        formatter = logger.registered_formatter
        self._serializer = getattr(formatter, "json_serializer", None)
        if self._serializer is not None:
            formatter.json_serializer = functools.partial(  # type: ignore[attr-defined]
                json.dumps, default=str, separators=(",", ":"), ensure_ascii=True
            )
        self.records = RecordBuffer(formatter)
        python_logger = logging.getLogger(logger.name)
        self._log_level = python_logger.level
        if python_logger.getEffectiveLevel() > logging.INFO:
            for handler in python_logger.handlers:
                if handler.level < python_logger.getEffectiveLevel():
                    handler.setLevel(python_logger.getEffectiveLevel())
            python_logger.setLevel(logging.INFO)
        python_logger.addHandler(self.records)
        isolate_powertools(logger, metrics)

    def _release_logs(self) -> None:
        release_powertools(logger, metrics)
        if self._serializer is not None:
            logger.registered_formatter.json_serializer = self._serializer  # type: ignore[attr-defined]
            self._serializer = None
        python_logger = logging.getLogger(logger.name)
        if getattr(self, "records", None) is not None:
            python_logger.removeHandler(self.records)
        if self._log_level is not None:
            python_logger.setLevel(self._log_level)

    def _write_state_file(self) -> None:
        """Where this stack serves, for `relay redrive`, `relay sign --wait` and others run beside it."""
        path = self.options.state_file
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.endpoints(), indent=2) + "\n", encoding="utf-8")
        self._wrote_state = True

    def endpoints(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "ingress": self.ingress_url,
            "feed": self.feed_url,
            "northca": self.northca_url,
            "erlc": self.erlc_url or None,
            "aws_endpoint": self.aws_endpoint,
            "region": REGION,
            "queue_url": self.queue_url,
            "emergency_queue_url": self.emergency_queue_url,
            "dlq_url": self.dlq_url,
            # relay inspect, replay and resync read these (their tables, as the handlers name them).
            "state_table": os.environ.get("STATE_TABLE"),
            "archive_table": os.environ.get("ARCHIVE_TABLE"),
            "config": str(self.options.config.resolve()),
            "secrets": str(self.options.secrets.resolve()),
        }

    def put_secrets(self, secrets: SecretsFile, bundle: str | None) -> None:
        put_secrets(secrets, bundle)

    @property
    def feed_url(self) -> str:
        return self.ingress_url.removesuffix("/hooks") + "/_relay"

    def _start_aws(self) -> None:
        o = self.options
        aws = self._aws = LocalAws.start(o.host, o.moto_port, o.config)
        self.aws_endpoint = aws.endpoint
        visibility = o.visibility_timeout or self.queue.visibility_timeout
        aws.declare(o.template, self.queue, visibility, self.secrets, self.config.secrets.bundle)
        self.queue_url, self.dlq_url = aws.queue_url, aws.dlq_url
        self.emergency_queue_url = aws.emergency_queue_url

    def _start_northca(self) -> None:
        o = self.options
        if o.northca_url:
            self.northca_url = o.northca_url.rstrip("/")
        else:
            key = self.secrets.newest(self.config.northca.partner_key_secret)
            links: dict[str, list[str]] = {}
            targets: list[SourceConfig | ErlcServerConfig] = [
                *self.config.sources.values(),
                *self.config.erlc.servers.values(),
            ]
            for target in targets:
                links.setdefault(target.mdt_id, []).append(target.guild_id)
            emulator = self.emulator = NorthcaEmulator(partner_keys=[key], links=links)
            self.northca_url = self._serving(
                o.emulator_port, "--emulator-port", lambda: emulator.start(o.host, o.emulator_port)
            )
        os.environ["NORTHCA_BASE_URL"] = self.northca_url

    def _start_ingress(self) -> None:
        from relay.handlers import ingress

        def invoke(event: dict[str, Any]) -> dict[str, Any]:
            with self.functions.invocation("ingress"):
                answer: dict[str, Any] = ingress.lambda_handler(
                    event, LocalLambdaContext(function_name="ingress", timeout_seconds=10)
                )
            return answer

        o = self.options
        max_body = self.config.ingress.max_body_bytes
        pages = feed_pages(self.records)
        server = self._ingress = self._serving(
            o.port, "--port", lambda: make_ingress_server(o.host, o.port, invoke, max_body, pages)
        )
        self.ingress_url = server.start("relay-local-ingress") + "/hooks"

    def _start_consumer(self) -> None:
        from relay.handlers import consumer

        settings = MappingSettings(
            batch_size=self.queue.batch_size,
            window_seconds=self.options.window_seconds
            if self.options.window_seconds is not None
            else self.queue.window_seconds,
            function_timeout_seconds=self.queue.consumer_timeout,
        )

        def handler(event: dict[str, Any], context: Any) -> Any:
            with self.functions.invocation("consumer"):
                return consumer.lambda_handler(event, context)

        self.mapping = SqsEventSourceMapping(boto3.client("sqs"), self.queue_url, handler, settings)
        urgent = MappingSettings(
            batch_size=self.queue.emergency_batch_size,
            window_seconds=self.queue.emergency_window_seconds,
            function_timeout_seconds=self.queue.consumer_timeout,
        )
        self.emergency_mapping = SqsEventSourceMapping(
            boto3.client("sqs"), self.emergency_queue_url, handler, urgent
        )

        def loop(mapping: SqsEventSourceMapping) -> Callable[[], None]:
            def poll() -> None:
                while not self._stop.is_set():
                    if mapping.poll_once(wait=True) is None:
                        self._stop.wait(0.2 if mapping.settings.window_seconds else 0)

            return poll

        self._spawn("consumer", loop(self.mapping))
        self._spawn("consumer-emergencies", loop(self.emergency_mapping))

    def _start_erlc(self) -> None:
        """The ER:LC API the poll and the ingress's lookups call (the emulator unless --erlc-url), named
        in the environment before either function builds its clients."""
        servers = self.config.erlc.servers
        if not servers:
            return
        o = self.options
        if o.erlc_url:
            self.erlc_url = o.erlc_url.rstrip("/")
        else:
            keys = [self.secrets.newest(server.server_key_secret) for server in servers.values()]
            erlc = self.erlc_emulator = ErlcEmulator(keys)
            self.erlc_url = self._serving(
                o.erlc_emulator_port,
                "--erlc-emulator-port",
                lambda: erlc.start(o.host, o.erlc_emulator_port),
            )
        os.environ["ERLC_BASE_URL"] = self.erlc_url

    def _start_schedules(self) -> None:
        """The template's ScheduleV2 task: `{"task": "erlc-roster"}` every RosterPollSchedule period (the
        ER:LC polls and the quiet sources' watch), when there is either."""
        watched = any(source.expect_every is not None for source in self.config.sources.values())
        if not self.config.erlc.servers and not watched:
            return
        from relay.handlers import scheduled

        period = self.options.roster_poll_seconds or self.queue.roster_poll_seconds

        def poll() -> None:
            context = LocalLambdaContext(function_name="scheduled", timeout_seconds=30)
            try:
                with self.functions.invocation("scheduled"):
                    scheduled.lambda_handler({"task": "erlc-roster"}, context)
            except Exception as exc:  # noqa: BLE001 - like Lambda: log it, the next tick runs anyway
                print(f"relay local: roster poll failed: {exc!r}", file=sys.stderr, flush=True)

        def loop() -> None:
            # Once at start: an ER:LC command sent before the first tick would find no roster.
            poll()
            while not self._stop.wait(period):
                poll()

        self._spawn("schedule-erlc-roster", loop)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"relay-local-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def ready_line(self) -> str:
        line = f"relay local ready: ingress {self.ingress_url}/{{source}} northca {self.northca_url}"
        return line + (f" erlc {self.erlc_url}" if self.erlc_url else "")

    def details(self) -> list[str]:
        """Where everything else is, for the operator's other terminal."""
        return [
            f"  deliveries  {self.feed_url} (JSON: {self.feed_url}/deliveries)",
            f"  aws (moto)  {self.aws_endpoint} region {REGION}",
            f"  queue       {self.queue_url}",
            f"  emergencies {self.emergency_queue_url}",
            f"  dlq         {self.dlq_url}",
        ]

    def stop(self) -> None:
        self._stop.set()
        if self._wrote_state and self.options.state_file is not None:
            self.options.state_file.unlink(missing_ok=True)
        self._release_logs()
        if self._ingress:
            self._ingress.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        if self.emulator:
            self.emulator.stop()
        if self.erlc_emulator:
            self.erlc_emulator.stop()
        if self._aws:
            self._aws.stop()

    def wait(self) -> None:
        try:
            while not self._stop.is_set():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
