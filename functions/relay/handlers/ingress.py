"""POST /hooks/{source} and /hooks/{source}/{token}: HTTP API v2 events in, envelope answers out."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay.errors import InvalidPayloadError, RelayError, VerificationError
from relay.handlers import wiring
from relay.ingress import answers
from relay.ingress.pipeline import InboundRequest, IngressDeps, accept_webhook
from relay.models import utc_now
from relay.observability import logger, metrics

app = APIGatewayHttpResolver()


def raw_body() -> bytes:
    event = app.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidPayloadError("body: marked base64 but not valid base64") from None
    # surrogatepass: a hand-made event's str may hold lone surrogates; the bytes then fail UTF-8 checks
    return body.encode("utf-8", errors="surrogatepass")


def lower_case_headers() -> dict[str, str]:
    """Header names lower-cased; names differing only in case are joined with a comma, as API Gateway does."""
    headers: dict[str, str] = {}
    for name, value in (app.current_event.headers or {}).items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers


def handle(source: str, token: str | None) -> Response[str]:
    logger.append_keys(source=source)
    clock: Callable[[], datetime] = app.context["now"]
    request = InboundRequest(
        source=source, headers=lower_case_headers(), body=raw_body(), received_at=clock(), token=token
    )
    accepted = accept_webhook(request, app.context["deps"])
    if accepted.replay_store_error:
        # Fail open: the delivery is queued; a replay in this window may be queued twice (idempotent merge).
        logger.warning("replay store unavailable", extra={"error": accepted.replay_store_error})
        metrics.add_metric(name="ReplayStoreUnavailable", unit=MetricUnit.Count, value=1)
    data = {"source": source, "webhook_id": accepted.webhook_id, "changes": accepted.changes}
    if accepted.replayed:
        logger.info("webhook replayed: already queued", extra={"status": 200})
        metrics.add_metric(name="WebhooksReplayed", unit=MetricUnit.Count, value=1)
        return answers.ok(data | {"replayed": True}, status=200)
    logger.info(
        "webhook accepted",
        extra={
            "status": 202,
            "changes": accepted.changes,
            "messages": accepted.messages,
            "units": list(accepted.unit_ids[:50]),
        },
    )
    metrics.add_metric(name="WebhooksAccepted", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="UnitChangesQueued", unit=MetricUnit.Count, value=accepted.changes)
    return answers.ok(data)


@app.post("/hooks/<source>")
def post_hook(source: str) -> Response[str]:
    return handle(source, None)


@app.post("/hooks/<source>/<token>")
def post_hook_with_token(source: str, token: str) -> Response[str]:
    return handle(source, token)


@app.exception_handler(RelayError)
def on_relay_error(exc: RelayError) -> Response[str]:
    metrics.add_metric(name=exc.metric(), unit=MetricUnit.Count, value=1)
    if isinstance(exc, VerificationError):
        logger.warning(
            "webhook rejected", extra={"status": exc.status, "kind": exc.kind, "reason": exc.reason}
        )
    elif exc.status >= 500:
        # The detail is for operators only: the answer carries the class's public text (answers.py).
        logger.error(
            "webhook not queued, sender should retry",
            extra={"status": exc.status, "error": exc.message, "metric": exc.metric()},
        )
    else:
        logger.info("webhook refused", extra={"status": exc.status, "error": exc.message})
    return answers.from_relay_error(exc)


@app.not_found
def on_not_found(_: NotFoundError) -> Response[str]:
    metrics.add_metric(name="WebhooksRejectedUnknownRoute", unit=MetricUnit.Count, value=1)
    return answers.error(404, "Not found")


@app.exception_handler(Exception)
def on_unexpected(exc: Exception) -> Response[str]:
    # A bug, not bad input: log it with its stack and answer 500 so the sender retries later.
    logger.exception("unexpected error")
    return answers.error(500, "Internal error")


@metrics.log_metrics
# The request's id until the delivery's own id is known (accept_webhook makes that the correlation id).
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
def lambda_handler(
    event: dict[str, Any],
    context: LambdaContext,
    deps: IngressDeps | None = None,
    now: Callable[[], datetime] | None = None,
) -> dict[str, Any]:
    deps = deps or wiring.ingress_deps()
    for warning in deps.config_warnings():
        logger.warning("relay.toml: source without replay protection", extra={"warning": warning})
    app.append_context(deps=deps, now=now or utc_now)
    return app.resolve(event, context)
