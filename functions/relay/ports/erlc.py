"""One ER:LC private server, as PRC's API gives it (relay.erlc.client reads PRC's wire format), and
the lookup the ingress may make of it (relay.erlc.lookup)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from relay.config.schema import ErlcServerConfig


@dataclass(frozen=True)
class ErlcPlayer:
    name: str
    player_id: str
    team: str
    callsign: str | None = None


@dataclass(frozen=True)
class RateLimit:
    """What an answer's `X-RateLimit-*` headers said of its bucket."""

    bucket: str | None
    limit: int | None
    remaining: int | None
    reset: float | None  # epoch seconds

    def hold_until(self) -> float | None:
        """When the bucket is empty, the epoch second it refills; else None."""
        if self.remaining is not None and self.remaining <= 0 and self.reset is not None:
            return self.reset
        return None


@dataclass(frozen=True)
class PlayersAnswer:
    players: list[ErlcPlayer]
    version: str
    rate_limit: RateLimit | None = None


class PlayersApi(Protocol):
    """One ER:LC private server's player list."""

    def players(self) -> PlayersAnswer: ...


@dataclass(frozen=True)
class ServerNow:
    """A server's players as an on-demand lookup found them at `at`, with the server's settings (its
    departments, statuses and MDT: what makes a player a unit)."""

    settings: ErlcServerConfig
    players: list[ErlcPlayer]
    at: datetime


class RosterLookup(Protocol):
    """PRC asked now for a server's players, within the limits the scheduled poll keeps too."""

    def look_up(self, server: str) -> ServerNow:
        """Raises ErlcLookupSkippedError, saying why, when PRC may not or could not be asked now
        (calls held after a 429, a lookup a moment ago, lookups off, no answer)."""
        ...
