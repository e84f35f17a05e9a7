"""ER:LC players as Northca units: parsing the PRC API's player lists, the roster, and its changes.

Pure: no sockets, no boto3, time passed in. The poller (relay.erlc.poller) fetches and stores;
the `erlc-events` adapter reads the stored roster to find the unit of a player who typed a command.

A player arrives as `{"Player": "Name:UserId", "Team": "Police", "Callsign": "1A-12", ...}` in both
`GET /v1/server/players` (a list) and `GET /v2/server?Players=true` (`{"Players": [...]}`); the name
is split off on the last `:`. A player is a unit while their team is one of
the server's `departments` and they have a callsign; the callsign is the unit id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from relay.errors import ErlcResponseError
from relay.models import MAX_UNIT_ID_LENGTH, UnitChange, UnitField
from relay.ports.erlc import ErlcPlayer

if TYPE_CHECKING:
    from relay.config.schema import ErlcServerConfig

# Where the roster lives in the state store: pk `roster#<server>`, this sk.
ROSTER_SK = "players"


def split_player(value: Any) -> tuple[str, str]:
    """`"Name:UserId"` -> (name, user id), split on the last colon."""
    if not isinstance(value, str) or ":" not in value:
        raise ErlcResponseError(f"Player: expected 'Name:UserId', got {str(value)[:64]!r}")
    name, _, player_id = value.rpartition(":")
    if not player_id.strip().isdigit():
        raise ErlcResponseError(f"Player: user id {player_id[:32]!r} is not a number")
    return name.strip(), player_id.strip()


def parse_players(payload: Any) -> list[ErlcPlayer]:
    """The players of a v1 list or a v2 server object."""
    items = payload.get("Players") if isinstance(payload, dict) else payload
    if isinstance(payload, dict) and items is None:
        items = []  # v2 omits the section when nobody is on the server
    if not isinstance(items, list):
        raise ErlcResponseError(f"expected a list of players, got {type(items).__name__}")
    players = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ErlcResponseError(f"Players[{index}]: expected an object")
        name, player_id = split_player(item.get("Player"))
        team = item.get("Team")
        callsign = item.get("Callsign")
        players.append(
            ErlcPlayer(
                name=name,
                player_id=player_id,
                team=team.strip() if isinstance(team, str) else "",
                callsign=callsign.strip() if isinstance(callsign, str) and callsign.strip() else None,
            )
        )
    return players


class RosterUnit(BaseModel):
    """An on-duty player as the relay last told the MDT about them."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    player_id: str
    name: str
    team: str
    callsign: str | None
    unit_id: str
    department: str


Roster = dict[str, RosterUnit]  # by player id


def unit_id_for(player: ErlcPlayer, server: ErlcServerConfig) -> str | None:
    callsign = player.callsign
    if callsign is None:
        if server.callsign_fallback is None:
            return None
        callsign = server.callsign_fallback.format(player_id=player.player_id, name=player.name)
    unit_id = callsign.upper() if server.uppercase_callsigns else callsign
    return unit_id[:MAX_UNIT_ID_LENGTH]


def build_roster(players: Iterable[ErlcPlayer], server: ErlcServerConfig) -> Roster:
    """The players who are units now. Two players claiming one callsign: the first listed keeps it."""
    departments = {team.casefold(): department for team, department in server.departments.items()}
    roster: Roster = {}
    taken: set[str] = set()
    for player in players:
        department = departments.get(player.team.casefold())
        unit_id = unit_id_for(player, server) if department is not None else None
        if department is None or unit_id is None or unit_id in taken:
            continue
        taken.add(unit_id)
        roster[player.player_id] = RosterUnit(
            player_id=player.player_id,
            name=player.name,
            team=player.team,
            callsign=player.callsign,
            unit_id=unit_id,
            department=department,
        )
    return roster


def roster_changes(old: Roster, new: Roster, server: ErlcServerConfig, at: datetime) -> list[UnitChange]:
    """What the MDT must hear so its units match `new`: nothing at all when nothing changed.

    Compared by unit id: a new unit gets name, department and the on-duty status; a unit that is
    gone (player left, went civilian or changed callsign) gets the off-duty status; a unit whose
    name or department changed gets just those fields.
    """
    before = {unit.unit_id: unit for unit in old.values()}
    after = {unit.unit_id: unit for unit in new.values()}
    changes = []
    for unit_id in sorted(before.keys() | after.keys()):
        was, now = before.get(unit_id), after.get(unit_id)
        fields: dict[UnitField, str | None] = {}
        if now is None:
            fields["status"] = server.off_duty_status
        elif was is None:
            fields = {"officer_name": now.name, "department": now.department, "status": server.on_duty_status}
        else:
            if was.name != now.name:
                fields["officer_name"] = now.name
            if was.department != now.department:
                fields["department"] = now.department
        if fields:
            changes.append(UnitChange(id=unit_id, at=at, fields=fields))
    return changes


def load_roster(value: Any) -> Roster:
    """A stored roster; anything unreadable counts as empty (the next diff then re-announces all)."""
    if not isinstance(value, Mapping):
        return {}
    roster: Roster = {}
    for player_id, entry in value.items():
        try:
            roster[str(player_id)] = RosterUnit.model_validate(entry)
        except ValidationError:
            continue
    return roster


def dump_roster(roster: Roster) -> dict[str, Any]:
    return {player_id: unit.model_dump() for player_id, unit in sorted(roster.items())}
