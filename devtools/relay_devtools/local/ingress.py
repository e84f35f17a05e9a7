"""relay local's ingress on the loopback server: each request becomes an HTTP API v2 event for the real
handler, as API Gateway builds it; and the local-only pages over the delivery feed.

The pages show what only the operator may see (the reason of a 401, every sender's text), so they
answer only a Host that names this server (localhost, an IP literal, or the name relay local was
started with, on its port): a page of another site whose name was rebound to 127.0.0.1 (DNS
rebinding) sends its own name and gets a 403. They send a CSP that runs only the page's own inline
script and style, refuse framing, and forbid content sniffing. Webhooks are not checked for Host: a
sender may come through a tunnel with any name.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from relay_devtools.deliveries.feed import RecordBuffer
from relay_devtools.deliveries.trail import read_trail
from relay_devtools.emulators.loopback import LoopbackServer, Reply, Request
from relay_devtools.local.apigw import api_gateway_v2_event

# How many deliveries the local feed serves, newest first, and in how many bytes at most (polled every
# two seconds by the page: a feed of 54 MB was seen).
FEED_LIMIT = 300
MAX_FEED_BYTES = 2 * 1024 * 1024
PAGES_PREFIX = "/_relay"

Pages = Callable[[Request], Reply | None]

COMMON_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)
FEED_CSP = "default-src 'none'; frame-ancestors 'none'"


def _inline_hash(tag: str, page: str) -> str:
    found = re.search(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
    body = found.group(1) if found else ""
    return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"


def page_csp(page: str) -> str:
    """The page's CSP: its own inline script and style (by their hashes) and fetches of its own origin."""
    script, style = _inline_hash("script", page), _inline_hash("style", page)
    return (
        f"default-src 'none'; script-src {script}; style-src {style}; connect-src 'self'; base-uri 'none';"
        " form-action 'none'; frame-ancestors 'none'"
    )


def own_host(header: str, bound_host: str, port: int) -> bool:
    """Whether a request's Host names this server: its port, and a name no other site can take over
    (localhost, an IP literal, or the name relay local was started with)."""
    if not header or any(c in header for c in "/?#@\\ \t\r\n"):
        return False
    try:
        parts = urlsplit(f"//{header}")
        given_port = parts.port
    except ValueError:
        return False
    name = (parts.hostname or "").rstrip(".")
    if given_port != port or not name:
        return False
    if name == "localhost" or name == bound_host.lower():
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _feed(records: RecordBuffer, source: str | None) -> bytes:
    """The feed's JSON: the newest deliveries that fit in MAX_FEED_BYTES; `omitted` counts the rest,
    `unreadable` the log lines the reader skipped."""
    trail = read_trail(records.records(), source=source, limit=FEED_LIMIT)
    parts: list[str] = []
    size = 64  # the envelope
    for delivery in trail.deliveries:
        text = json.dumps(delivery.as_dict(), separators=(",", ":"))
        if size + len(text) + 1 > MAX_FEED_BYTES:
            break
        parts.append(text)
        size += len(text) + 1
    omitted = len(trail.deliveries) - len(parts)
    tail = f'],"omitted":{omitted},"unreadable":{trail.unreadable}}}'
    return ('{"deliveries":[' + ",".join(parts) + tail).encode()


def feed_pages(records: RecordBuffer) -> Pages:
    """`GET /_relay/deliveries` (JSON, newest first) and `GET /_relay` (the page over it): local only,
    never in Lambda, since the feed shows what only the operator may see (the reason of a 401)."""
    page = resources.files("relay_devtools.deliveries").joinpath("page.html").read_text(encoding="utf-8")
    page_headers = (*COMMON_HEADERS, ("Content-Security-Policy", page_csp(page)))
    feed_headers = (*COMMON_HEADERS, ("Content-Security-Policy", FEED_CSP))

    def pages(request: Request) -> Reply | None:
        path, _, query = request.path.partition("?")
        if request.method != "GET":
            return None
        if path.rstrip("/") == f"{PAGES_PREFIX}/deliveries":
            params = parse_qs(query)
            source = params.get("source", [None])[0] or None
            return Reply(200, _feed(records, source), feed_headers)
        if path.rstrip("/") == PAGES_PREFIX:
            return Reply(200, page.encode(), page_headers, "text/html; charset=utf-8")
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
    `pages` answers the local-only GET pages first, to a Host that names this server only."""

    def serve(request: Request) -> Reply:
        if pages is not None and request.path.startswith(PAGES_PREFIX):
            if not own_host(request.headers.get("host", ""), host, server.server_address[1]):
                text = b"relay local answers its pages only to its own Host (localhost or an IP address)\n"
                return Reply(403, text, COMMON_HEADERS, "text/plain; charset=utf-8")
            page = pages(request)
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
    server = LoopbackServer(
        (host, port),
        serve,
        max_body_bytes=max(max_body + 1, 10 * 1024 * 1024),
        error_reply=lambda status, message: Reply.json(status, {"ok": False, "error": message}),
    )
    return server
