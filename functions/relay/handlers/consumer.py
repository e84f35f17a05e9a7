"""SQS batches in, `batchItemFailures` out. Never raises after a PUT: a raise would repeat them all."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay.consumer import ConsumerDeps, process_batch
from relay.northca import NorthcaClient
from relay.observability import logger, metrics
from relay.partner import PartnerWriter
from relay.secrets import PowertoolsSecrets
from relay.settings import config_path, consumer_settings, relay_config


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


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: ConsumerDeps | None = None
) -> dict[str, Any]:
    records = event.get("Records") or []
    if deps is None:
        config = relay_config(config_path(consumer_settings()))
        deps = ConsumerDeps(
            writer=default_writer(),
            max_units_per_request=config.northca.max_units_per_request,
            remaining_ms=context.get_remaining_time_in_millis,
        )
    outcome = process_batch(records, deps)
    metrics.add_metric(name="MessagesReceived", unit=MetricUnit.Count, value=len(records))
    metrics.add_metric(name="MessagesFailed", unit=MetricUnit.Count, value=len(outcome.failed_message_ids))
    metrics.add_metric(name="PartnerPuts", unit=MetricUnit.Count, value=outcome.puts)
    return outcome.response([str(r.get("messageId")) for r in records])
