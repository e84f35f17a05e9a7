"""The ingress's answers, in the partner's envelope: `{"ok": true, "data": ...}` or
`{"ok": false, "error": ...}`. The one place that turns outcomes into HTTP answers; a `RelayError`
already knows its status.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

from relay.errors import RelayError

JSON = "application/json"


def ok(data: dict[str, Any], status: int = 202) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=json.dumps({"ok": True, "data": data}))


def error(status: int, message: str) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=json.dumps({"ok": False, "error": message}))


def from_relay_error(exc: RelayError) -> Response[str]:
    """A 4xx says what and where (401 is always the generic text). A 5xx is the relay's own trouble:
    its detail (which secret, which AWS error, what the key is) would tell an anonymous caller about
    the setup, so the answer carries only the class's public text; the detail goes to the log and
    the metric."""
    return error(exc.status, exc.message if exc.status < 500 else exc.public_message)
