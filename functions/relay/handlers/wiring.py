"""The one composition root: each function's real dependencies, built from its environment.

Handlers call these when a test did not pass `deps=`. Everything is built once per cold start and
per AWS endpoint (a local stack restarted in-process gets new clients); `reset()` forgets it all.
This module and relay.aws are the only ones that import boto3.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from relay.errors import ConfigError
from relay.observability import logger

if TYPE_CHECKING:
    from relay.alerts.notify import NotifierDeps
    from relay.consumer.invocation import ConsumerDeps
    from relay.erlc.poller import RosterPollDeps
    from relay.ingress.pipeline import IngressDeps
    from relay.northca.pacing import PartnerPacer
    from relay.northca.writer import PartnerWriter

# Each function imports only its own parts, inside its builder: the ingress never loads the
# consumer, the partner's HTTP client or the notifier (a cold start pays for every import).

# Every AWS call is bounded; botocore's defaults (60 s each, up to 5 attempts) outlast any timeout.
# The consumer and poller: 2 attempts of 1 s to connect and 3 s to read, ~10 s at worst, which the
# consumer's reserve (min_remaining_ms) covers. The ingress answers within its 5 s timeout: its few
# calls (replay record, queue, a secret on a cold start) get 0.5 s to connect and 1 s to read.
WORKER_CALLS: dict[str, Any] = {
    "connect_timeout": 1,
    "read_timeout": 3,
    "retries": {"mode": "standard", "max_attempts": 2},
}
INGRESS_CALLS: dict[str, Any] = {
    "connect_timeout": 0.5,
    "read_timeout": 1,
    "retries": {"mode": "standard", "max_attempts": 2},
}
# The archive is kept after the webhook is queued, best effort: one attempt, well inside the 5 s (a
# record not kept is logged and counted; the webhook is answered all the same).
ARCHIVE_CALLS: dict[str, Any] = {
    "connect_timeout": 0.3,
    "read_timeout": 0.5,
    "retries": {"mode": "standard", "max_attempts": 1},
}


def io_workers() -> int:
    """Threads for the consumer's unit-state calls, sized to the function's memory (Lambda gives CPU
    and network in proportion): 16 at the template's 256 MB."""
    try:
        memory = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or 256)
    except ValueError:
        memory = 256
    return max(4, min(64, memory // 16))


@functools.cache
def client(
    service: str, endpoint_url: str | None, pool: int = 10, ingress: bool = False, best_effort: bool = False
) -> Any:
    """One boto3 client per service, cold start, endpoint, connection pool size and call bounds."""
    calls = ARCHIVE_CALLS if best_effort else INGRESS_CALLS if ingress else WORKER_CALLS
    # relay local's moto answers over loopback at its own pace (a busy laptop): it gives the best-effort
    # calls more time, so that they are not lost there for a reason Lambda does not have.
    override = os.environ.get("RELAY_BEST_EFFORT_TIMEOUT") if best_effort else None
    if override:
        calls = calls | {"connect_timeout": float(override), "read_timeout": float(override)}
    return boto3.client(service, config=Config(**calls, max_pool_connections=pool))  # type: ignore[call-overload]


def _client(service: str, pool: int = 10, *, ingress: bool = False, best_effort: bool = False) -> Any:
    return client(service, os.environ.get("AWS_ENDPOINT_URL"), pool, ingress, best_effort)


@functools.cache
def ingress_deps() -> IngressDeps:
    from relay.aws.dynamodb import DynamoReplayGuard, DynamoSourceStateStore
    from relay.aws.secrets import PowertoolsSecrets
    from relay.aws.sqs import SqsDeadLetters, SqsPublisher
    from relay.config.environment import IngressEnvironment
    from relay.config.loader import stateful_sources
    from relay.ingress.pipeline import IngressDeps
    from relay.memory import InMemoryReplayGuard
    from relay.ports.stores import ReplayGuard

    env = IngressEnvironment.model_validate(os.environ)
    config = env.relay_config()
    stateful = stateful_sources(config)
    if stateful and not env.STATE_TABLE:
        # Fail at wiring, not on the first webhook.
        raise ConfigError(f"STATE_TABLE is not set: sources {', '.join(stateful)} keep state in it")
    replay: ReplayGuard
    if env.REPLAY_TABLE:
        replay = DynamoReplayGuard(env.REPLAY_TABLE, _client("dynamodb", ingress=True))
    else:
        logger.warning("REPLAY_TABLE not set: replays are only recognised within this container")
        replay = InMemoryReplayGuard()
    sqs = _client("sqs", ingress=True)
    secrets = PowertoolsSecrets(
        make_client=lambda: _client("secretsmanager", ingress=True), bundle=config.secrets.bundle
    )
    state = (
        DynamoSourceStateStore(env.STATE_TABLE, _client("dynamodb", ingress=True))
        if env.STATE_TABLE
        else None
    )
    archive = None
    if env.ARCHIVE_TABLE and config.archive.days > 0:
        from relay.aws.archive import DynamoArchive

        archive = DynamoArchive(env.ARCHIVE_TABLE, _client("dynamodb", best_effort=True))
    lookup = None
    if state is not None and any(s.adapter == "erlc-events" for s in config.sources.values()):
        from relay.erlc.client import client_factory
        from relay.erlc.lookup import OnDemandLookup

        # A command from a player the roster does not know yet looks the server up at once.
        make_client = client_factory(env.ERLC_BASE_URL, lookup=True)
        lookup = OnDemandLookup(config.erlc.servers, state, replay, secrets, make_client)
    return IngressDeps(
        config=config,
        secrets=secrets,
        publisher=SqsPublisher(env.QUEUE_URL, sqs),
        emergencies=SqsPublisher(env.EMERGENCY_QUEUE_URL, sqs) if env.EMERGENCY_QUEUE_URL else None,
        source_state=state,
        replay=replay,
        lookup=lookup,
        archive=archive,
        dead_letters=SqsDeadLetters(sqs, env.DLQ_URL) if env.DLQ_URL else None,
    )


@functools.cache
def partner_pacer() -> PartnerPacer | None:
    """The partner's rate shared by every consumer invocation, on the state table (None: no table). With
    no cap (max_requests_per_second = 0) it paces nothing but still counts 429s for the storm alarm. Its
    calls are best effort: a store that fails paces nothing (relay.northca.pacing)."""
    from relay.aws.pacing import DynamoSlotStore
    from relay.config.environment import ConsumerEnvironment
    from relay.northca.pacing import PartnerPacer

    env = ConsumerEnvironment.model_validate(os.environ)
    northca = env.relay_config().northca
    if not env.STATE_TABLE:
        return None
    store = DynamoSlotStore(env.STATE_TABLE, _client("dynamodb", best_effort=True))
    return PartnerPacer(store, northca.max_requests_per_second, northca.burst, northca.throttle_alarm_after)


@functools.cache
def partner_writer() -> PartnerWriter:
    from relay.aws.secrets import PowertoolsSecrets
    from relay.config.environment import ConsumerEnvironment
    from relay.northca.client import NorthcaClient
    from relay.northca.writer import PartnerWriter

    env = ConsumerEnvironment.model_validate(os.environ)
    config = env.relay_config()
    northca = config.northca
    base_url = env.NORTHCA_BASE_URL or str(northca.base_url)
    pacer = partner_pacer()
    return PartnerWriter(
        secrets=PowertoolsSecrets(bundle=config.secrets.bundle),
        secret_name=northca.partner_key_secret,
        make_client=lambda key: NorthcaClient(
            base_url,
            key,
            connect_timeout=northca.connect_timeout,
            read_timeout=northca.read_timeout,
            pace=pacer,
        ),
    )


def consumer_deps(remaining_ms: Any, queue_arn: str | None = None) -> ConsumerDeps:
    """The consumer's dependencies for one invocation (`remaining_ms` is its context's clock): a batch
    of the emergency queue (`queue_arn`, its records' eventSourceARN) has its messages' visibility
    changed on that queue."""
    deps = _consumer_deps()
    urgent = _emergency_visibility()
    if (
        queue_arn
        and urgent is not None
        and queue_arn.rsplit(":", 1)[-1] == urgent.queue_url.rsplit("/", 1)[-1]
    ):
        return dataclasses.replace(deps, remaining_ms=remaining_ms, visibility=urgent)
    return dataclasses.replace(deps, remaining_ms=remaining_ms)


@functools.cache
def _emergency_visibility() -> Any:
    from relay.aws.sqs import SqsVisibility
    from relay.config.environment import ConsumerEnvironment

    env = ConsumerEnvironment.model_validate(os.environ)
    return SqsVisibility(_client("sqs"), env.EMERGENCY_QUEUE_URL) if env.EMERGENCY_QUEUE_URL else None


@functools.cache
def _consumer_deps() -> ConsumerDeps:
    """Built once per container: the unit-state store keeps its thread pool across invocations."""
    from relay.aws.emergency_state import DynamoEmergencyStore
    from relay.aws.sqs import SqsDeadLetters, SqsPublisher, SqsVisibility
    from relay.aws.unit_state import DynamoUnitStateStore
    from relay.config.environment import ConsumerEnvironment
    from relay.consumer.invocation import ConsumerDeps
    from relay.consumer.policy import UnitPolicy

    env = ConsumerEnvironment.model_validate(os.environ)
    config = env.relay_config()
    if not env.STATE_TABLE:
        raise ConfigError("STATE_TABLE is not set: the consumer cannot merge without unit state")
    ttl_days = env.STATE_TTL_DAYS or config.consumer.unit_state_ttl_days
    sqs = _client("sqs")
    workers = io_workers()
    writer = partner_writer()
    return ConsumerDeps(
        writer=writer,
        state=DynamoUnitStateStore(
            env.STATE_TABLE, _client("dynamodb", pool=workers), ttl_days=ttl_days, workers=workers
        ),
        visibility=SqsVisibility(sqs, env.QUEUE_URL) if env.QUEUE_URL else None,
        rechecks=SqsPublisher(env.QUEUE_URL, sqs) if env.QUEUE_URL else None,
        dead_letters=SqsDeadLetters(sqs, env.DLQ_URL) if env.DLQ_URL else None,
        settings=config.consumer,
        policy=UnitPolicy.from_config(config),
        max_units_per_request=config.northca.max_units_per_request,
        emergency_writer=writer,
        emergency_state=DynamoEmergencyStore(env.STATE_TABLE, _client("dynamodb", pool=workers)),
        emergencies=config.emergencies,
        max_receive_count=env.MAX_RECEIVE_COUNT,
        pacer=partner_pacer(),
    )


@functools.cache
def roster_poll_deps() -> RosterPollDeps:
    from relay.aws.dynamodb import DynamoSourceStateStore
    from relay.aws.secrets import PowertoolsSecrets
    from relay.aws.sqs import SqsDeadLetters, SqsPublisher
    from relay.config.environment import ScheduledEnvironment
    from relay.erlc.client import client_factory
    from relay.erlc.poller import RosterPollDeps

    env = ScheduledEnvironment.model_validate(os.environ)
    sqs = _client("sqs")
    return RosterPollDeps(
        store=DynamoSourceStateStore(env.STATE_TABLE, _client("dynamodb")),
        publisher=SqsPublisher(env.QUEUE_URL, sqs),
        emergencies=SqsPublisher(env.EMERGENCY_QUEUE_URL, sqs) if env.EMERGENCY_QUEUE_URL else None,
        secrets=PowertoolsSecrets(bundle=env.relay_config().secrets.bundle),
        make_client=client_factory(env.ERLC_BASE_URL),
        sources=env.relay_config().sources,
        dead_letters=SqsDeadLetters(sqs, env.DLQ_URL) if env.DLQ_URL else None,
    )


def scheduled_servers() -> Any:
    from relay.config.environment import ScheduledEnvironment

    return ScheduledEnvironment.model_validate(os.environ).relay_config().erlc.servers


@functools.cache
def notifier_deps() -> NotifierDeps:
    from relay.alerts.notify import NotifierDeps
    from relay.alerts.webhook import webhook_factory
    from relay.aws.secrets import PowertoolsSecrets
    from relay.config.environment import NotifierEnvironment

    env = NotifierEnvironment.model_validate(os.environ)
    return NotifierDeps(
        secrets=PowertoolsSecrets(), secret_name=env.DISCORD_WEBHOOK_SECRET, make_webhook=webhook_factory()
    )


def reset() -> None:
    """Forget every cached dependency and config (tests, and a local stack restarted in-process)."""
    from relay.config.environment import relay_config

    cached_parts = (
        client,
        ingress_deps,
        partner_pacer,
        partner_writer,
        _consumer_deps,
        _emergency_visibility,
        roster_poll_deps,
        notifier_deps,
    )
    for cached in (*cached_parts, relay_config):
        cached.cache_clear()
