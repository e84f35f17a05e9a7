"""SQS batches in, `batchItemFailures` out. Never raises after a PUT: a raise would repeat them all."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay.consumer.invocation import ConsumerDeps
from relay.consumer.pipeline import process_batch
from relay.handlers import wiring
from relay.observability import logger, metrics


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: ConsumerDeps | None = None
) -> dict[str, Any]:
    records = event.get("Records") or []
    # One event source mapping sends one queue's records: the webhooks' or the calls' and panics'.
    queue_arn = records[0].get("eventSourceARN") if records and isinstance(records[0], dict) else None
    deps = deps or wiring.consumer_deps(context.get_remaining_time_in_millis, queue_arn)
    outcome = process_batch(records, deps)
    for name, value in outcome.counts(received=len(records)).items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if outcome.stopped:
        logger.warning("partner calls stopped early", extra={"reason": outcome.stopped})
    return outcome.response([str(r.get("messageId")) for r in records])
