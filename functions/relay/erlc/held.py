"""Commands held for a player the roster does not know yet: pure.

A player who joins between two polls and types `;10-6` at once has no unit on the stored roster. When
the ingress cannot look them up at once (relay.erlc.events: PRC's rate limit, a lookup a moment ago,
the API down), the command is held in the source state (`roster#<server>`, sk `held#<player id>`), with
its event time, its delivery and an expiry; the next poll or lookup that finds the player as a unit
sends it, dated as the player typed it, as its own source's change (relay.erlc.poller, relay.erlc.events).

Bounded: at most `MAX_HELD_PER_PLAYER` commands per player (the newest), each for at most the source's
`hold_seconds` (the item's TTL too). A command typed before the player could have come on duty (before
the poll that last did not list them, give or take the clocks' skew) is dropped, not sent: it was
typed as a civilian.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from relay.models import UnitChange

# The longest a source may hold a command (ErlcEventsOptions.hold_seconds's bound): the poller looks for
# held commands of the units that came on duty this recently.
MAX_HELD_SECONDS = 900
MAX_HELD_PER_PLAYER = 5
# The game's clock (a command's time) against the relay's (a poll's): a command this much older than
# the moment its player could have joined is still theirs.
CLOCK_SKEW_SECONDS = 2.0


def held_key(player_id: str) -> str:
    """The sk of a player's held commands, under `roster#<server>`."""
    return f"held#{player_id}"


class HeldCommand(BaseModel):
    """A status command waiting for its player's unit."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    source: str  # the erlc-events source it came through
    webhook_id: str | None
    received_at: float  # epoch seconds
    at: float  # when the player typed it
    status: str
    expires_at: float

    def change(self, unit_id: str) -> UnitChange:
        return UnitChange(id=unit_id, at=_instant(self.at), fields={"status": self.status})

    def received(self) -> datetime:
        return _instant(self.received_at)


def _instant(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def load_held(value: Any) -> list[HeldCommand]:
    """A player's held commands; what cannot be read is left out."""
    items = value.get("commands") if isinstance(value, dict) else None
    commands = []
    for item in items if isinstance(items, list) else []:
        try:
            commands.append(HeldCommand.model_validate(item))
        except ValidationError:
            continue
    return commands


def dump_held(commands: Iterable[HeldCommand]) -> dict[str, Any]:
    return {"commands": [command.model_dump() for command in commands]}


def hold(held: Iterable[HeldCommand], command: HeldCommand, now: float) -> list[HeldCommand]:
    """The player's held commands with one more: expired ones and a repeat of the same delivery
    dropped, the newest `MAX_HELD_PER_PLAYER` kept, oldest first."""
    kept = [
        c
        for c in held
        if c.expires_at > now and (c.source, c.webhook_id) != (command.source, command.webhook_id)
    ]
    kept.append(command)
    return sorted(kept, key=lambda c: (c.at, c.received_at))[-MAX_HELD_PER_PLAYER:]


def releasable(
    held: Iterable[HeldCommand], since: float | None, now: float
) -> tuple[list[HeldCommand], list[HeldCommand]]:
    """(the commands to send now that the player's unit came on duty at `since`, those to drop:
    expired, or typed before the player could have been a unit)."""
    released: list[HeldCommand] = []
    dropped: list[HeldCommand] = []
    for command in held:
        too_early = since is not None and command.at < since - CLOCK_SKEW_SECONDS
        (dropped if command.expires_at <= now or too_early else released).append(command)
    return released, dropped
