"""Commands held for a player the roster does not know yet: pure.

A player who joins between two polls and types `;10-6` at once has no unit on the stored roster. When
the ingress cannot look them up at once (relay.erlc.events: PRC's rate limit, a lookup a moment ago,
the API down), the command is held in the source state (`roster#<server>`, sk `held#<player id>`), with
its event time, its delivery and an expiry; the next poll or lookup that finds the player as a unit
sends it as its own source's change, in its own delivery's name (relay.erlc.poller, relay.erlc.newcomers).

It is dated as the player typed it, or just after the unit's join when the game's clock puts it
before (a clock a little behind the relay's, or PRC's API listing the player late): the player typed
it once in game, so it wins over the join's on-duty status, and over the off-duty status the roster
gave the unit when the player last left.

A `;panic` is held the same way (`panic`: the press's key), and sent as the unit's panic when the
player's unit is found; a player's panics are kept before their status commands when the bound bites.

Bounded: at most `MAX_HELD_PER_PLAYER` commands per player (the newest), each for at most the source's
`hold_seconds` (the item's TTL too); a command whose player is not found as a unit by then is dropped
(a panic is logged as not delivered when it is held: relay.erlc.newcomers). A held panic found expired
(its player's unit found too late, or a newer command held over it) is not dropped: it goes to the DLQ
with its reason (`expired_panic_letters`); so does one whose player a lookup then finds listed as no
unit (a civilian: `civilian_panic`). One whose player is never found again leaves with the
item's TTL: only the EMERGENCY NOT DELIVERED line of its hold tells of it (docs/sources/erlc.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from relay.config.schema import SourceConfig
from relay.messages import undelivered_letters
from relay.models import Panic, Undelivered, UnitChange
from relay.ports.queue import DeadLetter

# The longest a source may hold a command (ErlcEventsOptions.hold_seconds's bound).
MAX_HELD_SECONDS = 900
MAX_HELD_PER_PLAYER = 5
# A held command the game dates before its unit's join is dated this long after the join.
AFTER_JOIN = 0.002


def held_key(player_id: str) -> str:
    """The sk of a player's held commands, under `roster#<server>`."""
    return f"held#{player_id}"


class HeldCommand(BaseModel):
    """A status command (or a panic) waiting for its player's unit."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    source: str  # the erlc-events source it came through
    webhook_id: str | None
    received_at: float  # epoch seconds
    at: float  # when the player typed it
    status: str = ""
    expires_at: float
    # A `;panic`: the press's key (relay.erlc.events); None for a status command.
    panic: str | None = None

    def change(self, unit_id: str, since: float | None) -> UnitChange:
        """The command as its unit's change: dated as typed, and never before the unit's join."""
        at = self.at if since is None else max(self.at, since + AFTER_JOIN)
        return UnitChange(id=unit_id, at=_instant(at), fields={"status": self.status})

    def signal(self, unit_id: str, since: float | None, address: str | None = None) -> UnitChange | Panic:
        """What the command sends once its unit is known: the unit's panic, or its status change."""
        if self.panic is not None:
            return Panic(unit=unit_id, at=_instant(self.at), key=self.panic, address=address)
        return self.change(unit_id, since)

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
    # Panics sort last, so the bound drops status commands first; the order they are sent in does not
    # matter (each is dated as typed).
    return sorted(kept, key=lambda c: (c.panic is not None, c.at, c.received_at))[-MAX_HELD_PER_PLAYER:]


def releasable(held: Iterable[HeldCommand], now: float) -> tuple[list[HeldCommand], list[HeldCommand]]:
    """(the commands to send now that the player's unit is found, those expired)."""
    released: list[HeldCommand] = []
    expired: list[HeldCommand] = []
    for command in held:
        (expired if command.expires_at <= now else released).append(command)
    return released, expired


def expired_panic(command: HeldCommand, player_id: str, server: str) -> Undelivered | None:
    """What an expired held command was, if it was a panic: never delivered, with why and how to fix it."""
    held_for = round(command.expires_at - command.received_at)
    return undelivered_panic(
        command,
        player_id,
        server,
        f"held {held_for} s for a player not on the roster yet, and no poll or lookup found their unit "
        "in that time (not on duty, or PRC listed them late), so it is not sent late: the player "
        "presses ;panic again once on duty (the source's hold_seconds, up to 900, waits longer)",
    )


def civilian_panic(command: HeldCommand, player_id: str, server: str, why: str) -> Undelivered | None:
    """What a held command was, if it was a panic, once PRC lists its player but not as a unit (a
    civilian): never delivered, as a civilian's `;panic` is refused when the lookup sees them at once."""
    return undelivered_panic(
        command,
        player_id,
        server,
        f"held for a player not on the roster yet, whom PRC then listed as {why[:120]}: no unit to "
        "press it for, so it is not sent: the player presses ;panic again once on duty",
    )


def undelivered_panic(command: HeldCommand, player_id: str, server: str, reason: str) -> Undelivered | None:
    """A held panic as an undelivered emergency with its reason (None for a status command)."""
    if command.panic is None:
        return None
    return Undelivered(
        who=f"ER:LC player {player_id[:32]} (server {server[:64]})", at=_instant(command.at), reason=reason
    )


def expired_panic_letters(
    expired: Iterable[HeldCommand], player_id: str, server: str, sources: Mapping[str, SourceConfig]
) -> list[DeadLetter]:
    """The dead letters of the panics among a player's expired held commands, each in its delivery's name."""
    letters: list[DeadLetter] = []
    for command in expired:
        item = expired_panic(command, player_id, server)
        if item is None:
            continue
        source = sources.get(command.source)
        letters += undelivered_letters(
            source=command.source,
            # A source relay.toml no longer names has no MDT to name: the reason still says it all.
            mdt_id=source.mdt_id if source else "-",
            guild_id=source.guild_id if source else "-",
            actor=source.actor if source else None,
            webhook_id=command.webhook_id,
            received_at=command.received(),
            undelivered=[item],
        )
    return letters
