"""relay local's ingress on the loopback server: each request becomes an HTTP API v2 event for the real
handler, as API Gateway builds it; and the local-only pages over the delivery feed."""

from __future__ import annotations

import base64
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from relay_devtools.deliveries.feed import RecordBuffer
from relay_devtools.deliveries.trail import build_deliveries
from relay_devtools.emulators.loopback import LoopbackServer, Reply, Request
from relay_devtools.local.apigw import api_gateway_v2_event

# How many deliveries the local feed serves, newest first.
FEED_LIMIT = 300


Pages = Callable[[Request], Reply | None]


def feed_pages(records: RecordBuffer) -> Pages:
    """`GET /_relay/deliveries` (JSON, newest first) and `GET /_relay` (the page over it): local only,
    never in Lambda, since the feed shows what only the operator may see (the reason of a 401)."""

    def pages(request: Request) -> Reply | None:
        path, _, query = request.path.partition("?")
        if request.method != "GET":
            return None
        if path.rstrip("/") == "/_relay/deliveries":
            params = parse_qs(query)
            source = params.get("source", [None])[0] or None
            deliveries = build_deliveries(records.records(), source=source, limit=FEED_LIMIT)
            return Reply.json(200, {"deliveries": [d.as_dict() for d in deliveries]})
        if path.rstrip("/") == "/_relay":
            page = resources.files("relay_devtools.deliveries").joinpath("page.html").read_bytes()
            return Reply(200, page, (("Cache-Control", "no-store"),), "text/html; charset=utf-8")
        return None

    return pages


def make_ingress_server(
    host: str,
    port: int,
    invoke: Callable[[dict[str, Any]], dict[str, Any]],
    max_body: int,
    pages: Pages | None = None,
) -> LoopbackServer:
    """The ingress on the loopback server: each request becomes an HTTP API v2 event for the handler;
    `pages` answers the local-only GET pages first."""

    def serve(request: Request) -> Reply:
        page = pages(request) if pages is not None else None
        if page is not None:
            return page
        if request.method != "POST":
            return Reply.json(405, {"ok": False, "error": "Method not allowed"})
        path, _, query = request.path.partition("?")
        event = api_gateway_v2_event("POST", path, query, request.raw_headers, request.body, request.client)
        answer = invoke(event)
        payload = answer.get("body") or ""
        data = base64.b64decode(payload) if answer.get("isBase64Encoded") else payload.encode()
        headers = dict(answer.get("headers") or {})
        content_type = headers.pop("Content-Type", headers.pop("content-type", "application/json"))
        return Reply(int(answer.get("statusCode", 200)), data, tuple(headers.items()), content_type)

    # API Gateway caps payloads at 10 MB; the relay's own cap answers 413 just past it.
    return LoopbackServer(
        (host, port),
        serve,
        max_body_bytes=max(max_body + 1, 10 * 1024 * 1024),
        error_reply=lambda status, message: Reply.json(status, {"ok": False, "error": message}),
    )
