"""What a scheduled poll, or an on-demand lookup, of an ER:LC server changes: pure, time passed in.

The rules (docs/sources/erlc.md says them as an admin reads them):

- **A join is dated when the player could first have joined**: just after the last poll or lookup that
  did not list them, at most `JOIN_LOOKBACK_SECONDS` (2 minutes) before now: that long before now when
  no earlier poll is known (a first poll, a stored roster that cannot be read). A `;10-6` the player
  typed after joining is then newer than the join's on-duty status, and wins, however late the relay
  sees either.
  A held command the game dates before that moment is dated just after it (relay.erlc.held).
- **A player is gone only when the game says so reliably**: missing from `absent_polls` scheduled
  polls in a row (default 2), or on the server but no longer a unit (another team, no callsign, another
  callsign). A missing poll, a failed answer or one "server offline" answer is no news. A server that
  answers "offline" `offline_polls` times in a row (default 3) has shut down: every unit goes off duty.
- **A lookup only adds**: an on-demand lookup (an unknown player's command) announces the players it
  finds who are units and unknown, and nothing else; it never counts an absence. Its finds are kept
  beside the roster (`roster#<server>`, sk `lookup`) until the next poll, which takes them as known.
- Units are compared by unit id, as the MDT keys them: a unit whose player changed keeps its id and
  gets the new name; changes are sorted by unit id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from relay.erlc.roster import Roster, RosterUnit, StoredRoster, build_roster
from relay.models import UnitChange, UnitField
from relay.ports.erlc import ErlcPlayer, ServerRules

if TYPE_CHECKING:
    from relay.config.schema import ErlcServerConfig

# Where the units on-demand lookups found since the last poll are kept: pk `roster#<server>`, this sk.
SEEN_SK = "lookup"
# A join is never dated further back than this (a first poll, or one after a long outage: the player
# joined some time in between, but an earlier date would only let older edits win over the join).
JOIN_LOOKBACK_SECONDS = 120.0
# A join dated just after the poll that did not list the player, never at it (the leave it announced).
AFTER = 0.001


class Seen(BaseModel):
    """The units on-demand lookups found and announced since the last poll."""

    model_config = ConfigDict(frozen=True)

    looked_at: float  # the last lookup (epoch seconds)
    players: Roster = Field(default_factory=dict)


def load_seen(value: Any) -> Seen | None:
    try:
        return Seen.model_validate(value) if isinstance(value, dict) else None
    except ValidationError:
        return None


def dump_seen(seen: Seen) -> dict[str, Any]:
    return seen.model_dump()


def _current(stored: StoredRoster, seen: Seen | None) -> Seen | None:
    """The lookups' finds, if made after the last poll (a later poll has taken them in)."""
    if seen is None or (stored.polled_at is not None and seen.looked_at <= stored.polled_at):
        return None
    return seen


def known_units(stored: StoredRoster, seen: Seen | None) -> Roster:
    """The units the MDT has been told about: the roster's, and those lookups found since."""
    current = _current(stored, seen)
    if current is None:
        return dict(stored.players)
    return {**current.players, **stored.players}


def join_time(stored: StoredRoster, seen: Seen | None, now: datetime) -> float:
    """When a player neither the last poll nor a lookup since listed could first have joined: just
    after that look, never more than JOIN_LOOKBACK_SECONDS ago (with no look known, that long ago)."""
    current = _current(stored, seen)
    looks = [t for t in (stored.polled_at, current.looked_at if current else None) if t is not None]
    at = now.timestamp()
    return min(at, max([t + AFTER for t in looks] + [at - JOIN_LOOKBACK_SECONDS]))


@dataclass(frozen=True)
class Sync:
    """A poll's result: the roster to store, the changes dated now (gone, renamed, moved), and the
    units that came on duty (each with `since`, the time its join is dated)."""

    roster: StoredRoster
    changes: list[UnitChange] = field(default_factory=list)
    joins: list[RosterUnit] = field(default_factory=list)


def _off_duty(unit_ids: Iterable[str], server: ErlcServerConfig, now: datetime) -> list[UnitChange]:
    fields: dict[UnitField, str | None] = {"status": server.off_duty_status}
    return [UnitChange(id=unit_id, at=now, fields=fields) for unit_id in sorted(set(unit_ids))]


def offline_sync(stored: StoredRoster, seen: Seen | None, server: ErlcServerConfig, now: datetime) -> Sync:
    """A "server offline" answer: no news, until `offline_polls` in a row end the night."""
    offline = stored.offline + 1
    known = known_units(stored, seen)
    if offline < server.offline_polls or not known:
        return Sync(stored.model_copy(update={"offline": offline}))
    gone = _off_duty((unit.unit_id for unit in known.values()), server, now)
    return Sync(StoredRoster(polled_at=now.timestamp(), offline=offline), gone)


def poll_sync(
    stored: StoredRoster,
    seen: Seen | None,
    players: Sequence[ErlcPlayer],
    server: ErlcServerConfig,
    now: datetime,
) -> Sync:
    """A scheduled poll's answer against what the MDT was told."""
    known = known_units(stored, seen)
    before = {unit.unit_id: unit for unit in known.values()}
    joined_at = join_time(stored, seen, now)
    roster: Roster = {}
    changes: list[UnitChange] = []
    joins: list[RosterUnit] = []
    for player_id, unit in build_roster(players, server).items():
        was = before.get(unit.unit_id)
        same_player = was is not None and was.player_id == player_id
        unit = unit.model_copy(update={"since": was.since if was and same_player else joined_at})
        if was is None:
            joins.append(unit)
        else:
            fields: dict[UnitField, str | None] = {}
            if was.name != unit.name:
                fields["officer_name"] = unit.name
            if was.department != unit.department:
                fields["department"] = unit.department
            if fields:
                changes.append(UnitChange(id=unit.unit_id, at=now, fields=fields))
        roster[player_id] = unit
    taken = {unit.unit_id for unit in roster.values()}
    listed = {player.player_id for player in players}
    gone = []
    for player_id, was in known.items():
        if was.unit_id in taken:
            continue  # the unit is on duty: this player's still, or another player's now
        if player_id not in listed and was.absent + 1 < server.absent_polls:
            roster[player_id] = was.model_copy(update={"absent": was.absent + 1})
            taken.add(was.unit_id)
        else:
            gone.append(was.unit_id)  # left for good, or on the server but no longer this unit
    changes += _off_duty(gone, server, now)
    changes.sort(key=lambda change: change.id)
    found = _current(stored, seen)
    taken_in = [p for p in roster if found and p in found.players and p not in stored.players]
    fresh = sorted({unit.player_id for unit in joins} | set(taken_in))
    return Sync(StoredRoster(players=roster, polled_at=now.timestamp(), fresh=fresh), changes, joins)


def lookup_sync(
    stored: StoredRoster,
    seen: Seen | None,
    players: Sequence[ErlcPlayer],
    server: ServerRules,
    now: datetime,
) -> tuple[Seen, list[RosterUnit]]:
    """An on-demand lookup's answer: the units it finds that the MDT was not told about (a unit id some
    known unit holds is left to the next poll), and the lookups' finds to keep."""
    known = known_units(stored, seen)
    taken = {unit.unit_id for unit in known.values()}
    joined_at = join_time(stored, seen, now)
    joins = [
        unit.model_copy(update={"since": joined_at})
        for player_id, unit in build_roster(players, server).items()
        if player_id not in known and unit.unit_id not in taken
    ]
    current = _current(stored, seen)
    found = {**(current.players if current else {}), **{unit.player_id: unit for unit in joins}}
    return Seen(looked_at=now.timestamp(), players=found), joins


def join_changes(joins: Iterable[RosterUnit], server: ServerRules) -> list[UnitChange]:
    """Each join as the MDT hears it, dated at the unit's `since`: name, department, on-duty status."""
    changes = []
    for unit in joins:
        since = unit.since if unit.since is not None else 0.0
        fields: dict[UnitField, str | None] = {
            "officer_name": unit.name,
            "department": unit.department,
            "status": server.on_duty_status,
        }
        changes.append(UnitChange(id=unit.unit_id, at=datetime.fromtimestamp(since, UTC), fields=fields))
    return changes
