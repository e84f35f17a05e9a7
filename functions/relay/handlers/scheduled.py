"""EventBridge Scheduler -> the scheduled tasks. Input `{"task": "erlc-roster"}` polls every ER:LC server
and looks for sources gone quiet (relay.watch)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, ValidationError

from relay.erlc.poller import RosterPollDeps, poll_servers
from relay.errors import UnknownTaskError
from relay.handlers import wiring
from relay.observability import logger, metrics
from relay.watch import check_sources


class ScheduledTask(BaseModel):
    """The schedule's Input, delivered as-is by EventBridge Scheduler."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    task: Literal["erlc-roster"]


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
    deps = deps or wiring.roster_poll_deps()
    outcomes = poll_servers(wiring.scheduled_servers(), deps)
    # Each tick also looks for sources gone quiet (relay.watch): a few reads, only for watched sources.
    check_sources(deps.sources, deps.store, deps.clock())
    for outcome in outcomes:
        name = "RosterPoll" + outcome.result.title().replace("-", "")  # e.g. RosterPollRateLimited
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    metrics.add_metric(
        name="RosterChangesQueued", unit=MetricUnit.Count, value=sum(o.changes for o in outcomes)
    )
    return {"task": task.task, "servers": [asdict(outcome) for outcome in outcomes]}
