"""The ingress's on-demand lookup of an ER:LC server (relay.ports.erlc.RosterLookup): a command from a
player the stored roster does not know yet asks PRC for the players at once, so the player's unit and
their command reach the MDT within seconds, not at the next poll.

Within PRC's limits, shared with the scheduled poll (relay.erlc.fetch): never while the server's calls
are held after a 429 or an empty bucket (and a 429 or an empty bucket met here holds the poll too); at
most one lookup per server every `lookup_spacing_seconds`, claimed atomically (two webhooks at once
make one lookup: the claim is a conditional write in the replay table, `erlc-lookup#<server>`); short
timeouts. Every failure is a skip with its reason, never an error of the webhook: the command is then
held for the next poll (relay.erlc.newcomers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from relay.config.schema import ErlcServerConfig
from relay.erlc.fetch import DEFAULT_HOLD_SECONDS, MakeClient, fetch_players, held_until, hold, hold_after
from relay.errors import (
    ErlcError,
    ErlcLookupSkippedError,
    ErlcRateLimitedError,
    ReplayStoreUnavailableError,
    SourceStateUnavailableError,
)
from relay.models import utc_now
from relay.observability import logger
from relay.ports.erlc import PlayersAnswer, ServerNow
from relay.ports.secrets import SecretsSource
from relay.ports.stores import ReplayGuard, SourceStateStore


def claim_key(server: str) -> str:
    """The replay table's key that claims a server's next lookup."""
    return f"erlc-lookup#{server}"


class OnDemandLookup:
    """relay.ports.erlc.RosterLookup on PRC's API. `store` is the source-state store itself (a hold is
    written at once, whatever becomes of the webhook); `claims` the replay guard."""

    def __init__(
        self,
        servers: Mapping[str, ErlcServerConfig],
        store: SourceStateStore,
        claims: ReplayGuard,
        secrets: SecretsSource,
        make_client: MakeClient,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.servers = servers
        self.store = store
        self.claims = claims
        self.secrets = secrets
        self.make_client = make_client
        self.clock = clock

    def look_up(self, server: str) -> ServerNow:
        settings = self.servers.get(server)
        if settings is None or not settings.lookup:
            raise ErlcLookupSkippedError(f"lookups of {server!r} are off")
        now = self.clock()
        try:
            until = held_until(self.store, server, now)
            if until is not None:
                raise ErlcLookupSkippedError(f"PRC's rate limit holds {server!r} until {until:.0f}")
            if not self.claims.remember(claim_key(server), now, settings.lookup_spacing_seconds):
                raise ErlcLookupSkippedError(
                    f"{server!r} was looked up less than {settings.lookup_spacing_seconds} s ago"
                )
            answer = self._fetch(server, settings, now)
            hold_after(self.store, server, answer, now)
        except (ReplayStoreUnavailableError, SourceStateUnavailableError) as exc:
            raise ErlcLookupSkippedError(f"state unavailable: {exc}") from None
        return ServerNow(settings, answer.players, now)

    def _fetch(self, server: str, settings: ErlcServerConfig, now: datetime) -> PlayersAnswer:
        try:
            answer = fetch_players(server, settings, self.secrets, self.make_client)
        except ErlcRateLimitedError as exc:
            wait = exc.retry_after if exc.retry_after is not None else DEFAULT_HOLD_SECONDS
            hold(self.store, server, now.timestamp() + wait, now)
            raise ErlcLookupSkippedError(f"{exc.message}; polls held {wait:.1f}s") from None
        except ErlcError as exc:
            raise ErlcLookupSkippedError(exc.message) from None
        except Exception as exc:  # noqa: BLE001 - the server key unreadable: a skip, never the webhook's error
            logger.warning("erlc lookup: server key unreadable", extra={"error": type(exc).__name__})
            raise ErlcLookupSkippedError(f"server key unreadable: {type(exc).__name__}") from None
        return answer
