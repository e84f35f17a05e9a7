"""The ingress's answers, in the partner's envelope: `{"ok": true, "data": ...}` or
`{"ok": false, "error": ...}`, as HTTP API (payload 2.0) responses. The one place that turns outcomes
into HTTP answers; a `RelayError` already knows its status.
"""

from __future__ import annotations

import json
from typing import Any

from relay.errors import RelayError

JSON = "application/json"


def response(status: int, payload: dict[str, Any]) -> dict[str, Any]:
    """An HTTP API response in the shape API Gateway reads (as Powertools' resolver wrote it)."""
    return {
        "statusCode": status,
        "body": json.dumps(payload),
        "isBase64Encoded": False,
        "headers": {"Content-Type": JSON},
        "cookies": [],
    }


def ok(data: dict[str, Any], status: int = 202) -> dict[str, Any]:
    return response(status, {"ok": True, "data": data})


def error(status: int, message: str) -> dict[str, Any]:
    return response(status, {"ok": False, "error": message})


def from_relay_error(exc: RelayError) -> dict[str, Any]:
    """A 4xx says what and where (401 is always the generic text). A 5xx is the relay's own trouble:
    its detail (which secret, which AWS error, what the key is) would tell an anonymous caller about
    the setup, so the answer carries only the class's public text; the detail goes to the log and
    the metric."""
    return error(exc.status, exc.message if exc.status < 500 else exc.public_message)
