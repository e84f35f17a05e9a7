"""PRC's ER:LC API as the roster poller reads it: a player's shape, the errors it answers with (their
codes and messages verbatim), the rate-limit headers and the server object of `/v2/server`."""

from __future__ import annotations

import math
from typing import Any, Final

# 403 without a key, 403 with a wrong one, 429 once the bucket is empty.
NO_KEY: Final = {"code": 2000, "message": "You did not provide a server-key."}
WRONG_KEY: Final = {"code": 2002, "message": "You provided an invalid (or expired) server-key."}
RATE_LIMITED: Final = {"code": 4001, "message": "You are being rate limited!"}
RATE_BUCKET: Final = "global"
NOT_FOUND: Final = {"code": 0, "message": "Not found"}
METHOD_NOT_ALLOWED: Final = {"code": 0, "message": "Method not allowed"}


def player(
    name: str, user_id: int | str, team: str = "Police", callsign: str | None = None
) -> dict[str, Any]:
    """A player as PRC lists them; `Callsign` only on non-civilian teams."""
    entry: dict[str, Any] = {"Player": f"{name}:{user_id}", "Permission": "Normal", "Team": team}
    if callsign is not None:
        entry["Callsign"] = callsign
    return entry


def is_player(value: Any) -> bool:
    """A player object as `player` builds it: `Player` is "Name:UserId" with a numeric id."""
    if not isinstance(value, dict) or not isinstance(value.get("Player"), str):
        return False
    name, _, user_id = value["Player"].rpartition(":")
    return bool(name) and user_id.isdigit() and isinstance(value.get("Team", ""), str)


def user_id_of(entry: dict[str, Any]) -> str:
    return str(entry["Player"]).rpartition(":")[2]


def rate_headers(limit: int, used: int, reset: float) -> dict[str, str]:
    return {
        "X-RateLimit-Bucket": RATE_BUCKET,
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(limit - used, 0)),
        "X-RateLimit-Reset": str(math.ceil(reset)),
    }


def server_object(players: list[dict[str, Any]], *, with_players: bool) -> dict[str, Any]:
    """`GET /v2/server` (`?Players=true` adds the player list)."""
    server: dict[str, Any] = {
        "Name": "Relay Local RP",
        "OwnerId": 1,
        "CoOwnerIds": [],
        "CurrentPlayers": len(players),
        "MaxPlayers": 40,
        "JoinKey": "RelayLocal",
        "AccVerifiedReq": "Disabled",
        "TeamBalance": False,
    }
    if with_players:
        server["Players"] = players
    return server
