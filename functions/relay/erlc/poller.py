"""The scheduled ER:LC roster poll: fetch each server's players, diff against the stored roster,
enqueue only what changed (as the ingress would, `source = "erlc:<server>"`), then store the roster.

The client (relay.erlc.client) and the stores come in as ports; the mapping and the diff are pure
(relay.erlc.roster). When a rate-limit bucket is empty, or a 429 names `retry_after` (body) or
`Retry-After` (header), the server's next poll is held until then (`roster#<server>`, sk
`ratelimit`). A 429 is never retried inside the same poll: PRC blocks repeat offenders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from relay.config.schema import ErlcServerConfig
from relay.erlc.client import MAX_HOLD_SECONDS
from relay.erlc.roster import ROSTER_SK, build_roster, dump_roster, load_roster, roster_changes
from relay.errors import (
    ErlcAuthError,
    ErlcError,
    ErlcRateLimitedError,
    ErlcUnavailableError,
    QueueUnavailableError,
    SourceStateUnavailableError,
)
from relay.messages import Publisher, queue_messages
from relay.models import roster_key, utc_now
from relay.observability import logger
from relay.ports.erlc import PlayersAnswer, PlayersApi
from relay.ports.secrets import SecretsSource
from relay.ports.stores import SourceStateStore

RATE_LIMIT_SK = "ratelimit"


PollResult = Literal["changed", "unchanged", "held", "rate-limited", "auth-failed", "unavailable", "failed"]


@dataclass(frozen=True)
class PollOutcome:
    server: str
    result: PollResult
    changes: int = 0
    detail: str = ""


@dataclass
class RosterPollDeps:
    store: SourceStateStore
    publisher: Publisher
    secrets: SecretsSource
    make_client: Callable[[ErlcServerConfig, str], PlayersApi]
    clock: Callable[[], datetime] = utc_now


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
    messages = queue_messages(
        source=f"erlc:{name}",
        mdt_id=server.mdt_id,
        guild_id=server.guild_id,
        actor=server.actor,
        webhook_id=f"erlc-roster:{name}:{int(now.timestamp())}",
        received_at=now,
        changes=changes,
    )
    if messages:
        # Enqueue first: if this fails the roster stays old and the next poll sends the changes again.
        deps.publisher.send(messages)
    if new != old:
        deps.store.put(roster_key(name), ROSTER_SK, dump_roster(new))
    return PollOutcome(name, "changed" if changes else "unchanged", len(changes))


def poll_servers(servers: Mapping[str, ErlcServerConfig], deps: RosterPollDeps) -> list[PollOutcome]:
    """Every server in turn; one server's failure never stops the others."""
    outcomes = []
    for name, server in servers.items():
        try:
            outcome = poll_server(name, server, deps)
        except (QueueUnavailableError, SourceStateUnavailableError) as exc:
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
