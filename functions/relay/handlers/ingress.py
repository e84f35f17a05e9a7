"""POST /hooks/{source} and /hooks/{source}/{token}: HTTP API v2 events in, envelope answers out."""

from __future__ import annotations

import base64
import binascii
import functools
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay import http
from relay.errors import AuthenticationError, InvalidPayloadError, QueueUnavailableError, RelayError
from relay.ingress import InboundRequest, IngressDeps, accept_webhook
from relay.kvstore import DynamoKeyValueStore, state_lookups
from relay.observability import logger, metrics
from relay.queue import SqsPublisher
from relay.secrets import PowertoolsSecrets
from relay.settings import config_path, ingress_settings, relay_config

app = APIGatewayHttpResolver()


@functools.cache
def default_deps() -> IngressDeps:
    settings = ingress_settings()
    return IngressDeps(
        config=relay_config(config_path(settings)),
        secrets=PowertoolsSecrets(),
        publisher=SqsPublisher(settings.QUEUE_URL, boto3.client("sqs")),
        lookups=state_lookups(DynamoKeyValueStore(settings.STATE_TABLE, boto3.client("dynamodb")))
        if settings.STATE_TABLE
        else {},
    )


def raw_body() -> bytes:
    event = app.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidPayloadError("body: marked base64 but not valid base64") from None
    return body.encode("utf-8", errors="surrogateescape")


def handle(source: str, token: str | None) -> Response[str]:
    deps: IngressDeps = app.context["deps"]
    headers = {name.lower(): value for name, value in (app.current_event.headers or {}).items()}
    request = InboundRequest(
        source=source, headers=headers, body=raw_body(), received_at=app.context["now"](), token=token
    )
    logger.append_keys(source=source)
    accepted = accept_webhook(request, deps)
    logger.append_keys(webhook_id=accepted.webhook_id)
    logger.info("webhook accepted", extra={"changes": accepted.changes, "messages": accepted.messages})
    metrics.add_metric(name="WebhooksAccepted", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="UnitChangesQueued", unit=MetricUnit.Count, value=accepted.changes)
    return http.ok({"source": source, "webhook_id": accepted.webhook_id, "changes": accepted.changes})


@app.post("/hooks/<source>")
def post_hook(source: str) -> Response[str]:
    return handle(source, None)


@app.post("/hooks/<source>/<token>")
def post_hook_with_token(source: str, token: str) -> Response[str]:
    return handle(source, token)


@app.exception_handler(AuthenticationError)
def on_auth_error(exc: AuthenticationError) -> Response[str]:
    logger.warning("webhook rejected", extra={"reason": exc.reason})
    metrics.add_metric(name="WebhooksRejectedAuth", unit=MetricUnit.Count, value=1)
    return http.from_relay_error(exc)


@app.exception_handler(QueueUnavailableError)
def on_queue_error(exc: QueueUnavailableError) -> Response[str]:
    logger.error("enqueue failed")
    metrics.add_metric(name="EnqueueFailed", unit=MetricUnit.Count, value=1)
    return http.from_relay_error(exc)


@app.exception_handler(RelayError)
def on_relay_error(exc: RelayError) -> Response[str]:
    logger.info("webhook refused", extra={"status": exc.status, "error": exc.message})
    metrics.add_metric(name=f"WebhooksRejected{exc.status}", unit=MetricUnit.Count, value=1)
    return http.from_relay_error(exc)


@app.not_found
def on_not_found(_: NotFoundError) -> Response[str]:
    return http.error(404, "Not found")


@app.exception_handler(Exception)
def on_unexpected(exc: Exception) -> Response[str]:
    # A bug, not bad input: log it with its stack and answer 500 so the sender retries later.
    logger.exception("unexpected error")
    return http.error(500, "Internal error")


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(
    event: dict[str, Any],
    context: LambdaContext,
    deps: IngressDeps | None = None,
    now: Any = None,
) -> dict[str, Any]:
    app.append_context(deps=deps or default_deps(), now=now or (lambda: datetime.now(UTC)))
    return app.resolve(event, context)
