"""The alarm topic (SNS) -> a Discord webhook: each CloudWatch alarm notification posted as one message.

A failed post is logged and raised. SNS invokes Lambda asynchronously: an error makes Lambda retry the
event (twice, a minute or two apart: the template's EventInvokeConfig), then drop it. SNS's own delivery
retries apply only when Lambda does not take the event at all (throttled, unavailable).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay.alerts.notify import NotifierDeps, notify
from relay.errors import DiscordError
from relay.handlers import wiring
from relay.observability import logger, metrics


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: NotifierDeps | None = None
) -> dict[str, Any]:
    records = event.get("Records") or []
    try:
        posted = notify(records, deps or wiring.notifier_deps())
    except DiscordError as exc:
        logger.warning(
            "alarm not posted to Discord, Lambda retries the event",
            extra={"status": exc.status, "error": exc.message, "retryable": exc.retryable},
        )
        metrics.add_metric(name="AlarmNotificationsFailed", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name="AlarmNotificationsPosted", unit=MetricUnit.Count, value=len(posted))
    return {"posted": len(posted)}
