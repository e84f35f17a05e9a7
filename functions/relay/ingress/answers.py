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
    return error(exc.status, exc.message)
