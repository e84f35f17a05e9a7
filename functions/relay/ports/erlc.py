"""One ER:LC private server, as PRC's API gives it (relay.erlc.client reads PRC's wire format)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
