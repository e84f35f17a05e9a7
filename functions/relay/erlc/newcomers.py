"""A status command from a player the stored roster does not know yet: never dropped (pure; the lookup
is a port).

A player who joined after the last poll and types `;10-6` at once is not on the roster. The command
is held (relay.erlc.held), then, when the ingress may ask PRC now (`context.lookup`: PRC's rate limit,
one lookup per server every few seconds), the server's players are read at once: the units the MDT
was not told about are announced as the game's roster's changes (`erlc:<server>`, their joins dated
when the players could first have joined: relay.erlc.sync), and the player's held commands go with
them, the one just typed among them. All of it is queued with the request, and the roster's state is
written only once it is (the ingress's staged state).

When PRC may not be asked (or does not answer), the command stays held: the next poll, or the next
lookup, that finds the player as a unit sends it. A player PRC lists but who is not a unit (a
civilian) has their held commands dropped (a panic among them goes to the DLQ with that reason: the
ingress's notes); one PRC does not list yet keeps them until they expire.

A `;panic` takes the same path (`Typed.panic`, the press's key). Found, it is the unit's panic, with the
player's location from the lookup's answer as its address. Held, it waits for the next poll (up to a
minute, the schedule's period) and is logged as EMERGENCY NOT DELIVERED at once, so the alarm says a
panic is waiting; a civilian's is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from relay.erlc.held import (
    HeldCommand,
    civilian_panic,
    dump_held,
    expired_panic,
    held_key,
    hold,
    load_held,
    releasable,
)
from relay.erlc.roster import ROSTER_SK, RosterUnit, build_roster, load_stored
from relay.erlc.sync import SEEN_SK, dump_seen, join_changes, known_units, load_seen, lookup_sync
from relay.errors import ErlcLookupSkippedError
from relay.models import roster_key
from relay.observability import logger
from relay.sources import AdapterContext, Destination, Signal

# The lookups' finds outlive any poll schedule (a later poll supersedes them anyway).
SEEN_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Typed:
    """A status command (or a panic: `panic` is the press's key) as the player typed it."""

    player_id: str
    status: str
    at: datetime
    panic: str | None = None


@dataclass(frozen=True)
class Found:
    """What a newcomer's command brings now: its signals, and why none when it brings none (held, or
    the player is not a unit)."""

    signals: list[Signal]
    why: str = ""


def unit_of(context: AdapterContext, server: str, player_id: str) -> RosterUnit | None:
    """The player's unit on the stored roster, or among the units lookups found since the last poll."""
    state = context.require_state("erlc-events")
    stored = load_stored(state.get(roster_key(server), ROSTER_SK))
    unit = stored.players.get(player_id)
    if unit is not None:
        return unit
    return known_units(stored, load_seen(state.get(roster_key(server), SEEN_SK))).get(player_id)


def newcomer(typed: Typed, server: str, hold_seconds: int, context: AdapterContext) -> Found:
    """What a command from a player the roster does not know brings now (nothing while it is held)."""
    state = context.require_state("erlc-events")
    pk, item = roster_key(server), held_key(typed.player_id)
    now = context.received_at.timestamp()
    command = HeldCommand(
        source=context.source,
        webhook_id=context.webhook_id,
        received_at=now,
        at=typed.at.timestamp(),
        status=typed.status,
        expires_at=now + hold_seconds,
        panic=typed.panic,
    )
    before = load_held(state.get(pk, item))
    # hold() drops what expired: a panic among them goes to the DLQ with its reason (the ingress's notes).
    for expired in releasable(before, now)[1]:
        if (undelivered := expired_panic(expired, typed.player_id, server)) is not None:
            context.notes.undelivered.append(undelivered)
    holding = hold(before, command, now)
    state.put(pk, item, dump_held(holding), hold_seconds + 60)
    if context.lookup is None:
        return _held(typed, "no lookup here", context, hold_seconds)
    try:
        found = context.lookup.look_up(server)
    except ErlcLookupSkippedError as exc:
        return _held(typed, exc.message, context, hold_seconds)

    stored = load_stored(state.get(pk, ROSTER_SK))
    seen = load_seen(state.get(pk, SEEN_SK))
    # Read again: a poll or a lookup may have found the player since the first read.
    known = known_units(stored, seen).get(typed.player_id)
    seen, joins = lookup_sync(stored, seen, found.players, found.settings, found.at)
    state.put(pk, SEEN_SK, dump_seen(seen), SEEN_TTL_SECONDS)
    settings = found.settings
    context.notes.relay(
        join_changes(joins, settings),
        source=f"erlc:{server}",
        destination=Destination(settings.mdt_id, settings.guild_id, settings.actor),
    )
    unit = known or next((u for u in joins if u.player_id == typed.player_id), None)
    listed = {p.player_id: p for p in found.players}
    if unit is None:
        player = listed.get(typed.player_id)
        if player is not None and typed.player_id not in build_roster(found.players, settings):
            state.delete(pk, item)
            return _not_a_unit(typed, player.team, server, [c for c in holding if c != command], context)
        return _held(typed, "the lookup did not find the player's unit yet", context, hold_seconds)

    released, _ = releasable(load_held(state.get(pk, item)), now)
    others = [c for c in released if c.source != context.source]
    if others:
        state.put(pk, item, dump_held(others), hold_seconds + 60)  # another source's: the next poll's
    else:
        state.delete(pk, item)
    address = listed[typed.player_id].location if typed.player_id in listed else None
    own: list[Signal] = []
    for held in released:
        if held.source != context.source:
            continue
        signal = held.signal(unit.unit_id, unit.since, address)
        if held == command:
            own.append(signal)
        else:  # an earlier delivery's, held before: sent in its own name
            context.notes.relay([signal], webhook_id=held.webhook_id, received_at=held.received())
    logger.info(
        "erlc event: player looked up",
        extra={"player": typed.player_id, "unit": unit.unit_id, "joins": len(joins)},
    )
    return Found(own)


def _not_a_unit(
    typed: Typed, team: str, server: str, earlier: list[HeldCommand], context: AdapterContext
) -> Found:
    """A player PRC lists but not as a unit: the command is skipped (a panic refused), and the player's
    earlier held panics end the same way, in the DLQ with why (the ingress's notes)."""
    why = f"not an on-duty unit (team {team or 'none'})"
    for command in earlier:
        if (undelivered := civilian_panic(command, typed.player_id, server, why)) is not None:
            context.notes.undelivered.append(undelivered)
    logger.info(
        "erlc event: player is not an on-duty unit, command skipped",
        extra={"player": typed.player_id, "team": team[:32], "panic": typed.panic is not None},
    )
    return Found([], why)


def _held(typed: Typed, reason: str, context: AdapterContext, hold_seconds: int) -> Found:
    if typed.panic is not None:
        # Not on the MDT yet: the alarm's line, so a panic that waits is never a silent one.
        logger.error(
            "EMERGENCY NOT DELIVERED",
            extra={
                "kind": "panic",
                "source": context.source,
                "key": typed.player_id,
                "outcome": "held",
                "detail": (
                    f"player {typed.player_id} is not on the roster yet ({reason[:120]}): the panic is sent "
                    f"when the next poll finds their unit, or dropped after {hold_seconds} s"
                ),
            },
        )
        return Found([], "held: waits for the next poll")
    logger.info(
        "erlc event: player not on the roster yet, command held",
        extra={"player": typed.player_id, "status": typed.status[:32], "reason": reason[:200]},
    )
    return Found([], "held")
