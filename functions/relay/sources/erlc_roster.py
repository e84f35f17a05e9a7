"""The scheduled ER:LC roster poll: fetch each server's players, diff against the stored roster,
enqueue only what changed (as the ingress would, `source = "erlc:<server>"`), then store the roster.

I/O lives here (urllib3 client, state store, queue); the mapping and the diff are pure (relay.erlc).

Rate limits (sources.md §2.5): PRC says to follow its headers, never hard-coded numbers. After every
answer the `X-RateLimit-*` headers are read; when a bucket is empty, or a 429 names `retry_after`
(body) or `Retry-After` (header), the server's next poll is held until then (`roster#<server>`,
sk `ratelimit`). A 429 is never retried inside the same poll: PRC blocks repeat offenders.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import urllib3
from urllib3.exceptions import HTTPError

from relay.config import ErlcServerConfig
from relay.erlc import (
    ROSTER_SK,
    ErlcPlayer,
    ErlcResponseError,
    build_roster,
    dump_roster,
    load_roster,
    parse_players,
    roster_changes,
)
from relay.errors import QueueUnavailableError
from relay.kvstore import KeyValueStore, StateUnavailableError, roster_key
from relay.models import QueueMessage
from relay.northca import parse_retry_after
from relay.observability import logger
from relay.queue import split_messages
from relay.secrets import SecretsSource

USER_AGENT = "northca-relay/0.1"
RATE_LIMIT_SK = "ratelimit"
MAX_HOLD_SECONDS = 3600.0
AUTH_CODES = {2000, 2001, 2002, 2003, 2004}
OFFLINE_CODE = 3002
# Epoch values above this are milliseconds.
EPOCH_MILLIS_THRESHOLD = 1e11


class ErlcError(Exception):
    def __init__(self, message: str, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class ErlcAuthError(ErlcError):
    """403 (or codes 2000-2004): the server key is missing, malformed, expired or banned."""


class ErlcRateLimitedError(ErlcError):
    def __init__(self, message: str, retry_after: float | None, bucket: str | None) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after
        self.bucket = bucket


class ErlcUnavailableError(ErlcError):
    """Unreachable, timed out, 5xx, or PRC could not reach the game server (1001/1002)."""


class ErlcNotFoundError(ErlcError):
    """404: this API version is not served (v2 -> try v1)."""


@dataclass(frozen=True)
class RateLimit:
    bucket: str | None
    limit: int | None
    remaining: int | None
    reset: float | None  # epoch seconds

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimit | None:
        if not any(name.lower().startswith("x-ratelimit-") for name in headers):
            return None
        reset = _number(headers.get("x-ratelimit-reset"))
        if reset is not None and reset > EPOCH_MILLIS_THRESHOLD:
            reset /= 1000
        remaining = _number(headers.get("x-ratelimit-remaining"))
        limit = _number(headers.get("x-ratelimit-limit"))
        return cls(
            bucket=headers.get("x-ratelimit-bucket"),
            limit=None if limit is None else int(limit),
            remaining=None if remaining is None else int(remaining),
            reset=reset,
        )

    def hold_until(self) -> float | None:
        """When the bucket is empty, the epoch second it refills; else None."""
        if self.remaining is not None and self.remaining <= 0 and self.reset is not None:
            return self.reset
        return None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


@dataclass(frozen=True)
class PlayersAnswer:
    players: list[ErlcPlayer]
    version: str
    rate_limit: RateLimit | None = None


class PlayersApi(Protocol):
    def players(self) -> PlayersAnswer: ...


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
                return self._players("/v2/server?Players=true", "v2")
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
        rate_limit = RateLimit.from_headers({k.lower(): v for k, v in response.headers.items()})
        body = _json(response.data)
        status = response.status
        code = _error_code(body)
        if status == 200:
            try:
                return PlayersAnswer(parse_players(body), version, rate_limit)
            except ErlcResponseError as exc:
                raise ErlcError(f"GET {path}: {exc}", status) from None
        message = _error_message(body) or f"HTTP {status}"
        if status == 429:
            raise ErlcRateLimitedError(
                f"GET {path}: rate limited ({message})",
                _retry_after(body, response.headers.get("retry-after"), self.clock()),
                _text(body, "bucket") or (rate_limit.bucket if rate_limit else None),
            )
        if status in (401, 403) or code in AUTH_CODES:
            raise ErlcAuthError(f"GET {path}: server key refused ({message})", status, code)
        if code == OFFLINE_CODE or status == 422:
            # "Server offline (no players)": everyone is off duty.
            return PlayersAnswer([], version, rate_limit)
        if status == 404:
            raise ErlcNotFoundError(f"GET {path}: not found", status, code)
        if status >= 500 or code in (1001, 1002):
            raise ErlcUnavailableError(f"GET {path}: {message}", status, code)
        raise ErlcError(f"GET {path}: unexpected HTTP {status} ({message})", status, code)


def _json(data: bytes) -> Any:
    try:
        return json.loads(data or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _text(body: Any, key: str) -> str | None:
    value = body.get(key) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _error_code(body: Any) -> int | None:
    value = body.get("code", body.get("error_code")) if isinstance(body, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _error_message(body: Any) -> str | None:
    message = _text(body, "message") or _text(body, "error")
    return message[:200] if message else None


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


class Publisher(Protocol):
    def send(self, messages: list[QueueMessage]) -> int: ...


PollResult = Literal["changed", "unchanged", "held", "rate-limited", "auth-failed", "unavailable", "failed"]


@dataclass(frozen=True)
class PollOutcome:
    server: str
    result: PollResult
    changes: int = 0
    detail: str = ""


@dataclass
class RosterPollDeps:
    store: KeyValueStore
    publisher: Publisher
    secrets: SecretsSource
    make_client: Callable[[ErlcServerConfig, str], PlayersApi]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def _fetch(name: str, server: ErlcServerConfig, deps: RosterPollDeps) -> PlayersAnswer:
    """The players, with one retry on a refused key if Secrets Manager holds a newer one."""
    keys = deps.secrets.get(server.server_key_secret)
    if not keys:
        raise ErlcAuthError(f"secret {server.server_key_secret} is empty")
    try:
        return deps.make_client(server, keys[-1]).players()
    except ErlcAuthError:
        fresh = deps.secrets.get(server.server_key_secret, force_fetch=True)
        if not fresh or fresh[-1] == keys[-1]:
            raise
        logger.info("ER:LC server key rotated, retrying once", extra={"server": name})
        return deps.make_client(server, fresh[-1]).players()


def _hold(name: str, deps: RosterPollDeps, until: float, now: datetime) -> None:
    seconds = min(max(until - now.timestamp(), 0.0), MAX_HOLD_SECONDS)
    deps.store.put(
        roster_key(name), RATE_LIMIT_SK, {"not_before": now.timestamp() + seconds}, int(seconds) + 60
    )


def poll_server(name: str, server: ErlcServerConfig, deps: RosterPollDeps) -> PollOutcome:
    now = deps.clock()
    held = deps.store.get(roster_key(name), RATE_LIMIT_SK)
    if isinstance(held, dict) and float(held.get("not_before", 0)) > now.timestamp():
        return PollOutcome(name, "held", detail=f"rate limit: next poll after {held['not_before']:.0f}")
    try:
        answer = _fetch(name, server, deps)
    except ErlcRateLimitedError as exc:
        wait = exc.retry_after if exc.retry_after is not None else 60.0
        _hold(name, deps, now.timestamp() + wait, now)
        return PollOutcome(name, "rate-limited", detail=f"{exc.message}; holding {wait:.1f}s")
    except ErlcAuthError as exc:
        return PollOutcome(name, "auth-failed", detail=exc.message)
    except ErlcUnavailableError as exc:
        return PollOutcome(name, "unavailable", detail=exc.message)
    except ErlcError as exc:
        return PollOutcome(name, "failed", detail=exc.message)
    if answer.rate_limit is not None and (until := answer.rate_limit.hold_until()) is not None:
        _hold(name, deps, until, now)

    old = load_roster(deps.store.get(roster_key(name), ROSTER_SK))
    new = build_roster(answer.players, server)
    changes = roster_changes(old, new, server, now)
    if changes:
        message = QueueMessage(
            source=f"erlc:{name}",
            mdt_id=server.mdt_id,
            guild_id=server.guild_id,
            actor=server.actor,
            webhook_id=f"erlc-roster:{name}:{int(now.timestamp())}",
            received_at=now,
            changes=changes,
        )
        # Enqueue first: if this fails the roster stays old and the next poll sends the changes again.
        deps.publisher.send(split_messages(message))
    if new != old:
        deps.store.put(roster_key(name), ROSTER_SK, dump_roster(new))
    return PollOutcome(name, "changed" if changes else "unchanged", len(changes))


def poll_servers(servers: Mapping[str, ErlcServerConfig], deps: RosterPollDeps) -> list[PollOutcome]:
    """Every server in turn; one server's failure never stops the others."""
    outcomes = []
    for name, server in servers.items():
        try:
            outcome = poll_server(name, server, deps)
        except (QueueUnavailableError, StateUnavailableError) as exc:
            outcome = PollOutcome(name, "failed", detail=exc.message)
        log = logger.info if outcome.result in ("changed", "unchanged", "held") else logger.warning
        log(
            "roster poll",
            extra={
                "server": name,
                "result": outcome.result,
                "changes": outcome.changes,
                "detail": outcome.detail,
            },
        )
        outcomes.append(outcome)
    return outcomes


def make_erlc_client(base_url_override: str | None = None) -> Callable[[ErlcServerConfig, str], PlayersApi]:
    def make(server: ErlcServerConfig, key: str) -> PlayersApi:
        return ErlcClient(
            base_url_override or str(server.base_url),
            key,
            api_version=server.api_version,
            connect_timeout=server.connect_timeout,
            read_timeout=server.read_timeout,
        )

    return make
