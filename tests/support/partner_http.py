"""A connection pool for the partner's client that answers what the test says, as the partner's HTTP
server would: the client's own reading of statuses, envelopes and lists is what is under test."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import urllib3


class CannedPool:
    """Answers every request with `status` and the envelope `answer(headers)` builds (any JSON value,
    or bytes sent as they are); keeps the requests it was given."""

    def __init__(self, status: int, answer: Callable[[dict[str, str]], Any]) -> None:
        self.status = status
        self.answer = answer
        self.requests: list[tuple[str, str]] = []

    def request(
        self, method: str, url: str, *, headers: dict[str, str], **kwargs: Any
    ) -> urllib3.BaseHTTPResponse:
        self.requests.append((method, url))
        body = self.answer(headers)
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return urllib3.HTTPResponse(body=raw, status=self.status, preload_content=True)


def listing(data: Any) -> CannedPool:
    """A partner whose list answer's `data` is `data` (200, the ok envelope)."""
    return CannedPool(200, lambda headers: {"ok": True, "data": data})


def refusing(text: Callable[[str], str], status: int = 401) -> CannedPool:
    """A partner that refuses with `text(the key it was sent)` as its error."""
    return CannedPool(status, lambda headers: {"ok": False, "error": text(headers["x-partner-key"])})
