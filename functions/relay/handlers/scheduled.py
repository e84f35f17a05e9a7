"""EventBridge Scheduler -> the scheduled tasks. Input `{"task": "erlc-roster"}` polls every ER:LC server."""

from __future__ import annotations

import functools
from dataclasses import asdict
from typing import Any, Literal

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, ValidationError

from relay.kvstore import DynamoKeyValueStore
from relay.observability import logger, metrics
from relay.queue import SqsPublisher
from relay.secrets import PowertoolsSecrets
from relay.settings import config_path, relay_config, scheduled_settings
from relay.sources.erlc_roster import RosterPollDeps, make_erlc_client, poll_servers


class ScheduledTask(BaseModel):
    """The schedule's Input, delivered as-is by EventBridge Scheduler."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    task: Literal["erlc-roster"]


class UnknownTaskError(ValueError):
    """The schedule's Input is not a task this function runs: a deployment mistake."""


@functools.cache
def default_roster_deps() -> RosterPollDeps:
    settings = scheduled_settings()
    return RosterPollDeps(
        store=DynamoKeyValueStore(settings.STATE_TABLE, boto3.client("dynamodb")),
        publisher=SqsPublisher(settings.QUEUE_URL, boto3.client("sqs")),
        secrets=PowertoolsSecrets(),
        make_client=make_erlc_client(settings.ERLC_BASE_URL),
    )


def parse_task(event: Any) -> ScheduledTask:
    try:
        return ScheduledTask.model_validate(event)
    except ValidationError as exc:
        raise UnknownTaskError(f"not a scheduled task: {exc.errors(include_url=False)[0]['msg']}") from None


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: RosterPollDeps | None = None
) -> dict[str, Any]:
    task = parse_task(event)
    servers = relay_config(config_path(scheduled_settings())).erlc.servers
    outcomes = poll_servers(servers, deps or default_roster_deps())
    for outcome in outcomes:
        name = "RosterPoll" + outcome.result.title().replace("-", "")  # e.g. RosterPollRateLimited
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    metrics.add_metric(
        name="RosterChangesQueued", unit=MetricUnit.Count, value=sum(o.changes for o in outcomes)
    )
    return {"task": task.task, "servers": [asdict(outcome) for outcome in outcomes]}
