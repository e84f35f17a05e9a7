"""HTTP API (payload format 2.0) events, as API Gateway builds them for the ingress function."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")


def api_gateway_v2_event(
    method: str, raw_path: str, query: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
) -> dict[str, Any]:
    """The event API Gateway's HTTP API (payload 2.0) would build: lower-case names, repeats comma-joined;
    the cookies out of the headers into `cookies`, and `queryStringParameters` when there is a query
    (docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html)."""
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies += [part.strip() for part in value.split(";") if part.strip()]
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    parts = raw_path.strip("/").split("/")
    route, parameters = "$default", {}
    if len(parts) in (2, 3) and parts[0] == "hooks":
        route = "POST /hooks/{source}" if len(parts) == 2 else "POST /hooks/{source}/{token}"
        parameters = {"source": parts[1]} | ({"token": parts[2]} if len(parts) == 3 else {})
    content_type = joined.get("content-type", "")
    is_text = any(content_type.startswith(t) for t in TEXT_TYPES)
    try:
        text = body.decode("utf-8") if is_text else None
    except UnicodeDecodeError:
        text = None
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {route}" if route != "$default" else route,
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "pathParameters": parameters,
        "body": text if text is not None else base64.b64encode(body).decode(),
        "isBase64Encoded": text is None,
    }
    if cookies:
        event["cookies"] = cookies
    parameters_in_query: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        parameters_in_query[key] = (
            f"{parameters_in_query[key]},{value}" if key in parameters_in_query else value
        )
    if parameters_in_query:
        event["queryStringParameters"] = parameters_in_query
    return event
