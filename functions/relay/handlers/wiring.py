"""The one composition root: each function's real dependencies, built from its environment.

Handlers call these when a test did not pass `deps=`. Everything is built once per cold start and
per AWS endpoint (a local stack restarted in-process gets new clients); `reset()` forgets it all.
This module and relay.aws are the only ones that import boto3.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3

from relay.alerts.notify import NotifierDeps
from relay.alerts.webhook import webhook_factory
from relay.aws.dynamodb import DynamoReplayGuard, DynamoSourceStateStore, DynamoUnitStateStore
from relay.aws.secrets import PowertoolsSecrets
from relay.aws.sqs import SqsDeadLetters, SqsPublisher, SqsVisibility
from relay.consumer.pipeline import ConsumerDeps
from relay.erlc.client import client_factory
from relay.erlc.poller import RosterPollDeps
from relay.errors import ConfigError
from relay.ingress.pipeline import IngressDeps
from relay.memory import InMemoryReplayGuard
from relay.northca.client import NorthcaClient
from relay.northca.writer import PartnerWriter
from relay.observability import logger
from relay.ports import ReplayGuard
from relay.settings import (
    ConsumerEnvironment,
    IngressEnvironment,
    NotifierEnvironment,
    ScheduledEnvironment,
)
from relay.sources.registry import stateful_sources


@functools.cache
def client(service: str, endpoint_url: str | None) -> Any:
    """One boto3 client per service, cold start and endpoint."""
    return boto3.client(service)  # type: ignore[call-overload]


def _client(service: str) -> Any:
    return client(service, os.environ.get("AWS_ENDPOINT_URL"))


@functools.cache
def ingress_deps() -> IngressDeps:
    env = IngressEnvironment.model_validate(os.environ)
    config = env.relay_config()
    stateful = stateful_sources(config)
    if stateful and not env.STATE_TABLE:
        # Fail at wiring, not on the first webhook.
        raise ConfigError(f"STATE_TABLE is not set: sources {', '.join(stateful)} keep state in it")
    replay: ReplayGuard
    if env.REPLAY_TABLE:
        replay = DynamoReplayGuard(env.REPLAY_TABLE, _client("dynamodb"))
    else:
        logger.warning("REPLAY_TABLE not set: replays are only recognised within this container")
        replay = InMemoryReplayGuard()
    return IngressDeps(
        config=config,
        secrets=PowertoolsSecrets(),
        publisher=SqsPublisher(env.QUEUE_URL, _client("sqs")),
        source_state=DynamoSourceStateStore(env.STATE_TABLE, _client("dynamodb"))
        if env.STATE_TABLE
        else None,
        replay=replay,
    )


@functools.cache
def partner_writer() -> PartnerWriter:
    env = ConsumerEnvironment.model_validate(os.environ)
    northca = env.relay_config().northca
    base_url = env.NORTHCA_BASE_URL or str(northca.base_url)
    return PartnerWriter(
        secrets=PowertoolsSecrets(),
        secret_name=northca.partner_key_secret,
        make_client=lambda key: NorthcaClient(
            base_url,
            key,
            connect_timeout=northca.connect_timeout,
            read_timeout=northca.read_timeout,
        ),
    )


def consumer_deps(remaining_ms: Any) -> ConsumerDeps:
    """The consumer's dependencies for one invocation (`remaining_ms` is its context's clock)."""
    env = ConsumerEnvironment.model_validate(os.environ)
    config = env.relay_config()
    if not env.STATE_TABLE:
        raise ConfigError("STATE_TABLE is not set: the consumer cannot merge without unit state")
    ttl_days = env.STATE_TTL_DAYS or config.consumer.unit_state_ttl_days
    sqs = _client("sqs")
    return ConsumerDeps(
        writer=partner_writer(),
        state=DynamoUnitStateStore(env.STATE_TABLE, _client("dynamodb"), ttl_days=ttl_days),
        visibility=SqsVisibility(sqs, env.QUEUE_URL) if env.QUEUE_URL else None,
        dead_letters=SqsDeadLetters(sqs, env.DLQ_URL) if env.DLQ_URL else None,
        settings=config.consumer,
        max_units_per_request=config.northca.max_units_per_request,
        remaining_ms=remaining_ms,
    )


@functools.cache
def roster_poll_deps() -> RosterPollDeps:
    env = ScheduledEnvironment.model_validate(os.environ)
    return RosterPollDeps(
        store=DynamoSourceStateStore(env.STATE_TABLE, _client("dynamodb")),
        publisher=SqsPublisher(env.QUEUE_URL, _client("sqs")),
        secrets=PowertoolsSecrets(),
        make_client=client_factory(env.ERLC_BASE_URL),
    )


def scheduled_servers() -> Any:
    return ScheduledEnvironment.model_validate(os.environ).relay_config().erlc.servers


@functools.cache
def notifier_deps() -> NotifierDeps:
    env = NotifierEnvironment.model_validate(os.environ)
    return NotifierDeps(
        secrets=PowertoolsSecrets(), secret_name=env.DISCORD_WEBHOOK_SECRET, make_webhook=webhook_factory()
    )


def reset() -> None:
    """Forget every cached dependency and config (tests, and a local stack restarted in-process)."""
    from relay.settings import relay_config

    for cached in (client, ingress_deps, partner_writer, roster_poll_deps, notifier_deps, relay_config):
        cached.cache_clear()
