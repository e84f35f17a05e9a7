"""POST /hooks/{source} and /hooks/{source}/{token}: HTTP API v2 events in, envelope answers out.

Two routes do not need a router: the path is matched here (as Powertools' resolver matched it, raw
segments), which keeps the resolver's import and its per-request event objects out of the function.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Container, Mapping
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from relay.errors import InvalidPayloadError, RelayError, VerificationError
from relay.handlers import wiring
from relay.ingress import answers
from relay.ingress.pipeline import InboundRequest, IngressDeps, accept_webhook, shown_source
from relay.models import utc_now
from relay.observability import logger, metrics

# A path segment as API Gateway hands it over (still percent-encoded): RFC 3986's characters.
SEGMENT = r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+"
ROUTE = re.compile(rf"/hooks/(?P<source>{SEGMENT})(?:/(?P<token>{SEGMENT}))?")  # fullmatch: no "\n" before $


def mapping(value: Any) -> Mapping[str, Any]:
    """A part of the event as a mapping; API Gateway always sends one, a hand-made event may not."""
    return value if isinstance(value, Mapping) else {}


def route(event: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """(source, token) of a POST to one of the two routes, else None. A stage other than $default
    prefixes rawPath with its name."""
    context = mapping(event.get("requestContext"))
    if str(mapping(context.get("http")).get("method") or "").upper() != "POST":
        return None
    path = str(event.get("rawPath") or "")
    stage = context.get("stage")
    if stage and stage != "$default":
        path = path.removeprefix(f"/{stage}")
    match = ROUTE.fullmatch(path)
    return (match["source"], match["token"]) if match else None


def raw_body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise InvalidPayloadError("body: not text")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidPayloadError("body: marked base64 but not valid base64") from None
    # surrogatepass: a hand-made event's str may hold lone surrogates; the bytes then fail UTF-8 checks
    return body.encode("utf-8", errors="surrogatepass")


def lower_case_headers(event: Mapping[str, Any]) -> dict[str, str]:
    """Header names lower-cased; names differing only in case are joined with a comma, as API Gateway does.
    A name or value that is not text (only a hand-made event has one) counts as absent."""
    headers: dict[str, str] = {}
    for name, value in mapping(event.get("headers")).items():
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers


def request_id(event: Mapping[str, Any]) -> str | None:
    """API Gateway's id of the request (short and printable there; a hand-made event may hold anything)."""
    value = mapping(event.get("requestContext")).get("requestId")
    return value if isinstance(value, str) and 0 < len(value) <= 128 and value.isprintable() else None


def handle(
    event: Mapping[str, Any], source: str, token: str | None, deps: IngressDeps, now: Callable[[], datetime]
) -> dict[str, Any]:
    logger.append_keys(source=shown_source(source))
    request = InboundRequest(
        source=source,
        headers=lower_case_headers(event),
        body=raw_body(event),
        received_at=now(),
        token=token,
        request_id=request_id(event),
    )
    accepted = accept_webhook(request, deps)
    if accepted.replay_store_error:
        # Fail open: the delivery is queued; a replay in this window may be queued twice (idempotent merge).
        logger.warning("replay store unavailable", extra={"error": accepted.replay_store_error})
        metrics.add_metric(name="ReplayStoreUnavailable", unit=MetricUnit.Count, value=1)
    if accepted.archive_error:
        # Fail open too: answered and queued, only `relay inspect`/`relay replay` will not find it. Counted
        # from this line (template.yaml: ReplayProtectionLostFilter), not as a metric of its own.
        logger.warning("archive not written", extra={"error": accepted.archive_error})
    data: dict[str, Any] = {"source": source, "webhook_id": accepted.webhook_id, "changes": accepted.changes}
    if accepted.calls or accepted.panics:
        data |= {"calls": accepted.calls, "panics": accepted.panics}
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
            **({"label": accepted.label} if accepted.label else {}),
            "calls": list(accepted.call_keys[:50]),
            "panics": list(accepted.panic_units[:50]),
        },
    )
    metrics.add_metric(name="WebhooksAccepted", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="UnitChangesQueued", unit=MetricUnit.Count, value=accepted.changes)
    if accepted.calls or accepted.panics:
        metrics.add_metric(
            name="EmergenciesQueued", unit=MetricUnit.Count, value=accepted.calls + accepted.panics
        )
    return answers.ok(data)


def on_relay_error(exc: RelayError, request: str | None = None) -> dict[str, Any]:
    metrics.add_metric(name=exc.metric(), unit=MetricUnit.Count, value=1)
    if isinstance(exc, VerificationError):
        # Named as a delivery without an id is (`request:<API Gateway's id>`): the archive keeps a refused
        # delivery of a source with archive_body under that name (relay inspect, relay replay).
        named = {"webhook_id": f"request:{request}"} if request else {}
        logger.warning(
            "webhook rejected", extra={"status": exc.status, "kind": exc.kind, "reason": exc.reason, **named}
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


# A path no route matches is logged by its first segments only.
MAX_SHAPE_SEGMENTS = 6


def route_shape(path: str, sources: Container[str]) -> str:
    """A path no route matches, as its log line names it: `hooks` and a configured source's name after
    it as they are, every other segment by its length (`/hooks/snaily/<26 characters>/`). A url-token
    posted on a path that is not quite a route (a trailing slash) must not reach the log."""
    segments = path.split("/")
    shown = []
    for index, segment in enumerate(segments[:MAX_SHAPE_SEGMENTS]):
        named = segment == "hooks" or (index > 0 and segments[index - 1] == "hooks" and segment in sources)
        shown.append(segment if not segment or named else f"<{len(segment)} characters>")
    if len(segments) > MAX_SHAPE_SEGMENTS:
        shown.append(f"<{len(segments) - MAX_SHAPE_SEGMENTS} more segments>")
    return "/".join(shown)


def on_not_found(event: Mapping[str, Any], sources: Container[str]) -> dict[str, Any]:
    http = mapping(mapping(event.get("requestContext")).get("http"))
    method = str(http.get("method"))[:16]
    logger.info(
        "no such route",
        extra={
            "status": 404,
            "method": method if method.isascii() and method.isalpha() else "<other>",
            "route": route_shape(str(event.get("rawPath")), sources),
        },
    )
    metrics.add_metric(name="WebhooksRejectedUnknownRoute", unit=MetricUnit.Count, value=1)
    return answers.error(404, "Not found")


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(
    event: dict[str, Any],
    context: LambdaContext,
    deps: IngressDeps | None = None,
    now: Callable[[], datetime] | None = None,
) -> dict[str, Any]:
    # The request's id until the delivery's own id is known (accept_webhook makes that the correlation id).
    logger.set_correlation_id(request_id(event))
    deps = deps or wiring.ingress_deps()  # a wiring error fails the invocation, before any answer
    for what, warning in deps.config_warnings():
        logger.warning(what, extra={"warning": warning})
    try:
        target = route(event)
        if target is None:
            return on_not_found(event, deps.config.sources)
        return handle(event, *target, deps, now or utc_now)
    except RelayError as exc:
        return on_relay_error(exc, request_id(event))
    except Exception:  # noqa: BLE001 - a bug, not bad input: logged with its stack, 500 so the sender retries
        logger.exception("unexpected error")
        return answers.error(500, "Internal error")
