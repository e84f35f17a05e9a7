"""What the scheduled poll (relay.erlc.poller) and the ingress's on-demand lookup (relay.erlc.lookup)
share when they ask PRC for a server's players: the server key (newest first, fetched again once when
refused), and the rate-limit hold both respect.

PRC's limits are per IP or global key, across every route (https://apidocs.erlc.gg/rate-limits); a
client that keeps calling after a 429 may be blocked. So one hold per server (`roster#<server>`, sk
`ratelimit`), written by whichever call met the empty bucket or the 429, stops both callers until then.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from relay.config.schema import ErlcServerConfig
from relay.erlc.client import MAX_HOLD_SECONDS
from relay.errors import ErlcAuthError
from relay.models import roster_key
from relay.observability import logger
from relay.ports.erlc import PlayersAnswer, PlayersApi
from relay.ports.secrets import SecretsSource
from relay.ports.stores import SourceStateStore

RATE_LIMIT_SK = "ratelimit"
# A 429 that names no wait holds the server this long.
DEFAULT_HOLD_SECONDS = 60.0

MakeClient = Callable[[ErlcServerConfig, str], PlayersApi]


def fetch_players(
    name: str, server: ErlcServerConfig, secrets: SecretsSource, make_client: MakeClient
) -> PlayersAnswer:
    """The players, with one retry on a refused key if Secrets Manager holds a newer one."""
    keys = secrets.get(server.server_key_secret)
    if not keys:
        raise ErlcAuthError(f"secret {server.server_key_secret} is empty")
    try:
        return make_client(server, keys[-1]).players()
    except ErlcAuthError:
        fresh = secrets.get(server.server_key_secret, force_fetch=True)
        if not fresh or fresh[-1] == keys[-1]:
            raise
        logger.info("ER:LC server key rotated, retrying once", extra={"server": name})
        return make_client(server, fresh[-1]).players()


def held_until(store: SourceStateStore, name: str, now: datetime) -> float | None:
    """When the server's rate-limit hold ends (epoch seconds), if it is on at `now`."""
    held = store.get(roster_key(name), RATE_LIMIT_SK)
    until = held.get("not_before") if isinstance(held, dict) else None
    if isinstance(until, int | float) and not isinstance(until, bool) and until > now.timestamp():
        return float(until)
    return None


def hold(store: SourceStateStore, name: str, until: float, now: datetime) -> float:
    """Hold the server's calls until `until` (at most MAX_HOLD_SECONDS away); the seconds held."""
    seconds = min(max(until - now.timestamp(), 0.0), MAX_HOLD_SECONDS)
    store.put(roster_key(name), RATE_LIMIT_SK, {"not_before": now.timestamp() + seconds}, int(seconds) + 60)
    return seconds


def hold_after(store: SourceStateStore, name: str, answer: PlayersAnswer, now: datetime) -> None:
    """An answer whose bucket is empty holds the server until the bucket refills."""
    if answer.rate_limit is not None and (until := answer.rate_limit.hold_until()) is not None:
        hold(store, name, until, now)
