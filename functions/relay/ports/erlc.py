"""One ER:LC private server, as PRC's API gives it (relay.erlc.client reads PRC's wire format: players
in relay.erlc.roster, emergency calls in relay.erlc.calls), and the lookup the ingress may make of it
(relay.erlc.lookup)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class ErlcPlayer:
    name: str
    player_id: str
    team: str
    callsign: str | None = None
    # Where the player is, as text (v2's `Location`: building number, street, postal code), when given.
    location: str | None = None


@dataclass(frozen=True)
class ErlcCall:
    """One of a server's emergency calls (v2 `EmergencyCalls`), as far as it could be read: every field
    but `number` may be missing (PRC documents no schema; the wrappers read these)."""

    number: int
    started_at: int | None = None  # epoch seconds
    team: str | None = None
    caller: str | None = None  # the caller's user id
    caller_name: str | None = None  # where the call gives one ("Name:UserId")
    responders: tuple[str, ...] = ()  # user ids (`Players`; empty: nobody yet)
    position: tuple[float, ...] = ()
    description: str | None = None
    position_descriptor: str | None = None


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
    # The server's emergency calls; None when the answer did not carry the list (v1 has none; a v2
    # answer without `EmergencyCalls` says nothing of them, which is not "no calls").
    calls: list[ErlcCall] | None = None


class PlayersApi(Protocol):
    """One ER:LC private server's player list."""

    def players(self) -> PlayersAnswer: ...


class ServerRules(Protocol):
    """What makes a server's player a unit, and where the unit goes: the part of a server's settings
    (relay.toml's `[erlc.servers.NAME]`, relay.config.schema.ErlcServerConfig) the roster's pure rules
    read. A port of its own so that the lookup's answer names no config type."""

    @property
    def mdt_id(self) -> str: ...
    @property
    def guild_id(self) -> str: ...
    @property
    def actor(self) -> str | None: ...
    @property
    def departments(self) -> Mapping[str, str]: ...
    @property
    def on_duty_status(self) -> str: ...
    @property
    def callsign_fallback(self) -> str | None: ...
    @property
    def uppercase_callsigns(self) -> bool: ...


@dataclass(frozen=True)
class ServerNow:
    """A server's players as an on-demand lookup found them at `at`, with the server's settings (its
    departments, statuses and MDT: what makes a player a unit)."""

    settings: ServerRules
    players: list[ErlcPlayer]
    at: datetime


class RosterLookup(Protocol):
    """PRC asked now for a server's players, within the limits the scheduled poll keeps too."""

    def look_up(self, server: str) -> ServerNow:
        """Raises ErlcLookupSkippedError, saying why, when PRC may not or could not be asked now
        (calls held after a 429, a lookup a moment ago, lookups off, no answer)."""
        ...
