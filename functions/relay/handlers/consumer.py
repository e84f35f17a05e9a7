"""SQS batches in, `batchItemFailures` out. Never raises after a PUT: a raise would repeat them all."""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay.consumer import ConsumerDeps, SqsDeadLetters, SqsVisibility, process_batch
from relay.errors import ConfigError
from relay.northca import NorthcaClient
from relay.observability import logger, metrics
from relay.partner import PartnerWriter
from relay.secrets import PowertoolsSecrets
from relay.settings import config_path, consumer_settings, relay_config
from relay.state import DynamoUnitStateStore


@functools.cache
def default_writer() -> PartnerWriter:
    settings = consumer_settings()
    northca = relay_config(config_path(settings)).northca
    base_url = settings.NORTHCA_BASE_URL or str(northca.base_url)
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


@functools.cache
def _aws_clients(endpoint_url: str | None) -> tuple[Any, Any]:
    # One client each per cold start (and per endpoint, so a local stack restarted in-process gets new ones).
    return boto3.client("dynamodb"), boto3.client("sqs")


def default_deps(context: LambdaContext) -> ConsumerDeps:
    settings = consumer_settings()
    config = relay_config(config_path(settings))
    if not settings.STATE_TABLE:
        raise ConfigError("STATE_TABLE is not set: the consumer cannot merge without unit state")
    dynamodb, sqs = _aws_clients(os.environ.get("AWS_ENDPOINT_URL"))
    ttl_days = settings.STATE_TTL_DAYS or config.consumer.unit_state_ttl_days
    return ConsumerDeps(
        writer=default_writer(),
        state=DynamoUnitStateStore(settings.STATE_TABLE, dynamodb, ttl_days=ttl_days),
        visibility=SqsVisibility(sqs, settings.QUEUE_URL) if settings.QUEUE_URL else None,
        dead_letters=SqsDeadLetters(sqs, settings.DLQ_URL) if settings.DLQ_URL else None,
        settings=config.consumer,
        max_units_per_request=config.northca.max_units_per_request,
        remaining_ms=context.get_remaining_time_in_millis,
    )


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: ConsumerDeps | None = None
) -> dict[str, Any]:
    records = event.get("Records") or []
    outcome = process_batch(records, deps or default_deps(context))
    metrics.add_metric(name="MessagesReceived", unit=MetricUnit.Count, value=len(records))
    metrics.add_metric(name="MessagesFailed", unit=MetricUnit.Count, value=len(outcome.failed_message_ids))
    metrics.add_metric(name="PartnerPuts", unit=MetricUnit.Count, value=outcome.puts)
    metrics.add_metric(name="UnitsRefused", unit=MetricUnit.Count, value=len(outcome.refused_units))
    metrics.add_metric(name="MessagesDeadLettered", unit=MetricUnit.Count, value=len(outcome.dead_lettered))
    if outcome.stopped:
        logger.warning("partner calls stopped early", extra={"reason": outcome.stopped})
    return outcome.response([str(r.get("messageId")) for r in records])
