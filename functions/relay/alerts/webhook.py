"""Discord's Execute Webhook over urllib3: one attempt per call, explicit timeouts, no hidden retries and
no redirects (a redirect would carry the webhook's token to another host).

The webhook URL is a secret (its last part is the token that lets anyone post): it is never logged, and
no error raised here carries it; `redact` takes it out of any text that might.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from relay import USER_AGENT
from relay.errors import (
    DiscordRateLimitedError,
    DiscordRefusedError,
    DiscordUnavailableError,
    InvalidWebhookUrlError,
)

CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 5.0
MAX_ANSWER_BYTES = 64 * 1024
REDACTED = "<discord webhook url>"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def webhook_url(value: str) -> str:
    """The URL to post to: `value` checked (https, or http on a loopback address for local tests) and
    `wait=true` added, so Discord confirms the message was created rather than only queued."""
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname or ""
    except ValueError:
        raise InvalidWebhookUrlError("the webhook secret is not a URL") from None
    if not host or not parts.path.strip("/"):
        raise InvalidWebhookUrlError("the webhook secret is not a URL with a host and a path")
    if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(host)):
        raise InvalidWebhookUrlError(f"the webhook URL must use https, not {parts.scheme or 'no scheme'}")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "wait"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("wait", "true")])))


def redact(text: str, *urls: str) -> str:
    """`text` without any of `urls`, nor the path of any (which holds the token), whatever their letter
    case. Redact, then cut: a cut through the token would leave a piece that no longer matches."""
    for url in urls:
        if not url:
            continue
        path = urlsplit(url).path
        text = re.sub(re.escape(url), REDACTED, text, flags=re.IGNORECASE)
        if path.strip("/"):
            text = re.sub(re.escape(path), "/" + REDACTED, text, flags=re.IGNORECASE)
    return text


def _json(data: bytes) -> Any:
    try:
        return json.loads(data or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _retry_after(body: Any, header: str | None) -> float | None:
    for value in (body.get("retry_after") if isinstance(body, Mapping) else None, header):
        try:
            seconds = float(value) if value is not None else None
        except (TypeError, ValueError):
            continue
        if seconds is not None and seconds >= 0:
            return seconds
    return None


class DiscordWebhook:
    """One Discord webhook. `post` returns when Discord created the message, else raises a DiscordError."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self._raw_url = url
        self._url = webhook_url(url)
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.pool = pool or urllib3.PoolManager(maxsize=1, retries=False, timeout=self.timeout)

    def __repr__(self) -> str:
        return f"DiscordWebhook({REDACTED})"

    def post(self, payload: Mapping[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"content-type": "application/json", "user-agent": USER_AGENT}
        try:
            response = self.pool.request(
                "POST",
                self._url,
                body=body,
                headers=headers,
                timeout=self.timeout,
                retries=False,
                redirect=False,
                preload_content=False,
            )
        except NewConnectionError as exc:
            raise DiscordUnavailableError(f"could not connect: {type(exc).__name__}") from None
        except Urllib3TimeoutError as exc:
            raise DiscordUnavailableError(f"timed out: {type(exc).__name__}") from None
        except HTTPError as exc:
            raise DiscordUnavailableError(f"connection failed: {type(exc).__name__}") from None
        try:
            data = response.read(MAX_ANSWER_BYTES + 1, decode_content=True)
        except HTTPError as exc:
            raise DiscordUnavailableError(f"answer unreadable: {type(exc).__name__}") from None
        finally:
            # Never drain a long answer back into the pool.
            response.close()
        self._check(response.status, data[:MAX_ANSWER_BYTES], response.headers.get("retry-after"))

    def _check(self, status: int, data: bytes, retry_after: str | None) -> None:
        if 200 <= status < 300:
            return
        body = _json(data)
        said = body.get("message") if isinstance(body, Mapping) else None
        text = f"HTTP {status}" + (f": {said}" if isinstance(said, str) and said else "")
        text = redact(text, self._raw_url, self._url)[:300]
        if status == 429:
            raise DiscordRateLimitedError(text, _retry_after(body, retry_after))
        if 300 <= status < 400:
            raise DiscordRefusedError(f"HTTP {status}: a redirect, not followed", status)
        if 400 <= status < 500:
            raise DiscordRefusedError(text, status)
        raise DiscordUnavailableError(text, status)


def webhook_factory(
    connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT
) -> Callable[[str], DiscordWebhook]:
    def make(url: str) -> DiscordWebhook:
        return DiscordWebhook(url, connect_timeout=connect_timeout, read_timeout=read_timeout)

    return make
