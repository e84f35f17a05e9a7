"""PRC's ER:LC API client: urllib3, explicit timeouts, no redirects (they would carry the server key
elsewhere), no hidden retries. One call, one typed outcome.

v2 is asked for the players and the emergency calls in one request (`/v2/server?Players=true&
EmergencyCalls=true`); the calls are read defensively (relay.erlc.calls), so a call PRC shapes
oddly never costs the answer its players. v1 has no emergency calls.

Rate limits: PRC says to follow its headers, never hard-coded numbers. Every answer's `X-RateLimit-*`
headers are read (`RateLimit`); a 429 carries `retry_after` in the body or `Retry-After` in the
header. The poller decides what to do with them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import urllib3
from urllib3.exceptions import HTTPError

from relay import USER_AGENT
from relay.config.schema import ErlcServerConfig
from relay.erlc.calls import parse_calls
from relay.erlc.roster import parse_players
from relay.errors import (
    ErlcAuthError,
    ErlcError,
    ErlcNotFoundError,
    ErlcOfflineError,
    ErlcRateLimitedError,
    ErlcResponseError,
    ErlcUnavailableError,
)
from relay.httpclient import json_or_none, parse_retry_after
from relay.models import redact
from relay.observability import logger
from relay.ports.erlc import PlayersAnswer, PlayersApi, RateLimit

MAX_HOLD_SECONDS = 3600.0
AUTH_CODES = {2000, 2001, 2002, 2003, 2004}
OFFLINE_CODE = 3002
# Epoch values above this are milliseconds.
EPOCH_MILLIS_THRESHOLD = 1e11
# One request for both parts the relay reads (PRC's flags per part of the server object).
V2_SERVER = "/v2/server?Players=true&EmergencyCalls=true"


def rate_limit_from_headers(headers: Mapping[str, str]) -> RateLimit | None:
    """The bucket an answer's `X-RateLimit-*` headers (names lower-cased) describe, if it has any."""
    if not any(name.lower().startswith("x-ratelimit-") for name in headers):
        return None
    reset = _number(headers.get("x-ratelimit-reset"))
    if reset is not None and reset > EPOCH_MILLIS_THRESHOLD:
        reset /= 1000
    remaining = _number(headers.get("x-ratelimit-remaining"))
    limit = _number(headers.get("x-ratelimit-limit"))
    return RateLimit(
        bucket=headers.get("x-ratelimit-bucket"),
        limit=None if limit is None else int(limit),
        remaining=None if remaining is None else int(remaining),
        reset=reset,
    )


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


class ErlcClient:
    """PRC's ER:LC API: urllib3, explicit timeouts, no redirects (they would carry the server key
    elsewhere), no hidden retries."""

    def __init__(
        self,
        base_url: str,
        server_key: str,
        *,
        api_version: Literal["v2", "v1"] = "v2",
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        pool: urllib3.PoolManager | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.server_key = server_key
        self.api_version = api_version
        self.clock = clock
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.pool = pool or urllib3.PoolManager(maxsize=2, retries=False, timeout=self.timeout)

    def players(self) -> PlayersAnswer:
        if self.api_version == "v2":
            try:
                return self._players(V2_SERVER, "v2")
            except ErlcNotFoundError:
                logger.info("ER:LC v2 not served here, falling back to v1")
        return self._players("/v1/server/players", "v1")

    def _players(self, path: str, version: str) -> PlayersAnswer:
        headers = {"server-key": self.server_key, "accept": "application/json", "user-agent": USER_AGENT}
        try:
            response = self.pool.request(
                "GET",
                self.base_url + path,
                headers=headers,
                timeout=self.timeout,
                retries=False,
                redirect=False,
            )
        except HTTPError as exc:
            raise ErlcUnavailableError(f"GET {path}: {type(exc).__name__}") from None
        rate_limit = rate_limit_from_headers({k.lower(): v for k, v in response.headers.items()})
        body = json_or_none(response.data)
        status = response.status
        code = _error_code(body)
        if status == 200:
            try:
                players = parse_players(body)
            except ErlcResponseError as exc:
                raise ErlcError(f"GET {path}: {exc}", status) from None
            calls, unreadable = parse_calls(body) if version == "v2" else (None, 0)
            if unreadable:
                logger.warning(
                    "ER:LC emergency calls without a call number skipped", extra={"count": unreadable}
                )
            return PlayersAnswer(players, version, rate_limit, calls)
        message = redact(_error_message(body) or f"HTTP {status}", self.server_key)[:200]
        if status == 429:
            raise ErlcRateLimitedError(
                f"GET {path}: rate limited ({message})",
                _retry_after(body, response.headers.get("retry-after"), self.clock()),
                _text(body, "bucket") or (rate_limit.bucket if rate_limit else None),
            )
        if status in (401, 403) or code in AUTH_CODES:
            raise ErlcAuthError(f"GET {path}: server key refused ({message})", status, code)
        if code == OFFLINE_CODE or status == 422:
            # "Server offline (no players)": the poller decides when it means everyone left.
            raise ErlcOfflineError(f"GET {path}: server offline ({message})", status, code)
        if status == 404:
            raise ErlcNotFoundError(f"GET {path}: not found", status, code)
        if status >= 500 or code in (1001, 1002):
            raise ErlcUnavailableError(f"GET {path}: {message}", status, code)
        raise ErlcError(f"GET {path}: unexpected HTTP {status} ({message})", status, code)


def _text(body: Any, key: str) -> str | None:
    value = body.get(key) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _error_code(body: Any) -> int | None:
    value = body.get("code", body.get("error_code")) if isinstance(body, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _error_message(body: Any) -> str | None:
    # Whole: the caller redacts the server key, then cuts (a cut through the key would hide it).
    return _text(body, "message") or _text(body, "error")


def _retry_after(body: Any, header: str | None, now: datetime) -> float | None:
    """The body's `retry_after` (seconds), else the Retry-After header."""
    value = body.get("retry_after") if isinstance(body, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return min(float(value), MAX_HOLD_SECONDS)
    if isinstance(value, str):
        parsed = _number(value)
        if parsed is not None:
            return min(parsed, MAX_HOLD_SECONDS)
    return parse_retry_after(header, now)


def client_factory(
    base_url_override: str | None = None, *, lookup: bool = False
) -> Callable[[ErlcServerConfig, str], PlayersApi]:
    """Clients for the scheduled poll, or (`lookup`) for the ingress's on-demand lookups: their own,
    shorter timeouts, as the game waits for the webhook's answer."""

    def make(server: ErlcServerConfig, key: str) -> PlayersApi:
        return ErlcClient(
            base_url_override or str(server.base_url),
            key,
            api_version=server.api_version,
            connect_timeout=server.lookup_connect_timeout if lookup else server.connect_timeout,
            read_timeout=server.lookup_read_timeout if lookup else server.read_timeout,
        )

    return make
