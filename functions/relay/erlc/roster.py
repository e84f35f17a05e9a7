"""ER:LC players as Northca units: parsing the PRC API's player lists, and the roster as it is stored.

Pure: no sockets, no boto3. The poller (relay.erlc.poller) fetches and stores; relay.erlc.sync says
what a poll or a lookup changes; the `erlc-events` adapter reads the stored roster to find the unit of a
player who typed a command.

A player arrives as `{"Player": "Name:UserId", "Team": "Police", "Callsign": "1A-12", ...}` in both
`GET /v1/server/players` (a list) and `GET /v2/server?Players=true` (`{"Players": [...]}`); the name
is split off on the last `:`. A player is a unit while their team is one of
the server's `departments` and they have a callsign; the callsign is the unit id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from relay.erlc.call_sync import StoredCall, dump_calls, load_calls
from relay.erlc.calls import clean_text
from relay.errors import ErlcResponseError
from relay.models import MAX_FIELD_LENGTH, MAX_UNIT_ID_LENGTH
from relay.ports.erlc import ErlcPlayer, ServerRules

# Where the roster lives in the state store: pk `roster#<server>`, this sk.
ROSTER_SK = "players"
# The stored form's version (a bare map of player id to unit before).
STORED_VERSION = 2


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
    if isinstance(payload, dict) and not items:
        counted = payload.get("CurrentPlayers")
        if isinstance(counted, int) and not isinstance(counted, bool) and counted > 0:
            # Not "nobody is on": an answer that cannot be trusted to say who left.
            raise ErlcResponseError(f"Players: none listed while CurrentPlayers is {counted}")
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
                location=location_text(item.get("Location")),
            )
        )
    return players


def location_text(value: Any) -> str | None:
    """v2's `Location` as an address a dispatcher reads (`12 Main St, postal 214`); None without a
    street or postal code (map coordinates alone say little to a dispatcher)."""
    if not isinstance(value, Mapping):
        return None
    parts = [value.get(key) for key in ("BuildingNumber", "StreetName")]
    street = " ".join(str(p).strip() for p in parts if isinstance(p, str | int) and str(p).strip())
    postal = value.get("PostalCode")
    postal_text = (
        f"postal {str(postal).strip()}" if isinstance(postal, str | int) and str(postal).strip() else ""
    )
    return clean_text(", ".join(p for p in (street, postal_text) if p), MAX_FIELD_LENGTH)


class RosterUnit(BaseModel):
    """An on-duty player as the relay last told the MDT about them."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    player_id: str
    name: str
    team: str
    callsign: str | None
    unit_id: str
    department: str
    # When the unit came on duty, as the join was dated (epoch seconds): the earliest moment the player
    # could have joined. None in rosters stored before it was kept.
    since: float | None = None
    # Scheduled polls in a row whose answer did not list the player (relay.erlc.sync: gone at N).
    absent: int = Field(default=0, ge=0)


Roster = dict[str, RosterUnit]  # by player id


class StoredRoster(BaseModel):
    """What the poller keeps of a server (`roster#<server>`, sk `players`): the units, and what the
    rules of relay.erlc.sync need of the polls before."""

    model_config = ConfigDict(frozen=True)

    players: Roster = Field(default_factory=dict)
    # The last poll whose answer the roster reflects (epoch seconds): a player it did not list joined
    # after it.
    polled_at: float | None = None
    # "Server offline" answers in a row.
    offline: int = Field(default=0, ge=0)
    # The players whose units came on duty at that poll (its joins, and the lookups' finds it took in):
    # the next poll looks for their held commands too (one held while a poll or lookup found them).
    fresh: list[str] = Field(default_factory=list)
    # The open emergency calls the MDT was told about, by call key (relay.erlc.calls), and the answers
    # in a row that came back without the calls list.
    calls: dict[str, StoredCall] = Field(default_factory=dict)
    keyless: int = Field(default=0, ge=0)


def unit_id_for(player: ErlcPlayer, server: ServerRules) -> str | None:
    callsign = player.callsign
    if callsign is None:
        if server.callsign_fallback is None:
            return None
        callsign = server.callsign_fallback.format(player_id=player.player_id, name=player.name)
    unit_id = callsign.upper() if server.uppercase_callsigns else callsign
    return unit_id[:MAX_UNIT_ID_LENGTH]


def build_roster(players: Iterable[ErlcPlayer], server: ServerRules) -> Roster:
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


def load_stored(value: Any) -> StoredRoster:
    """A stored roster, in this form or the one before (a bare map of player id to unit); an entry that
    cannot be read is left out, and anything else unreadable counts as empty (every player is then a
    join again: the consumer takes a source saying again what it said as no change)."""
    if not isinstance(value, Mapping):
        return StoredRoster()
    if value.get("v") != STORED_VERSION:
        return StoredRoster(players=_units(value))
    polled_at = value.get("polled_at")
    return StoredRoster(
        players=_units(value.get("players")),
        polled_at=float(polled_at) if isinstance(polled_at, int | float) and _is_number(polled_at) else None,
        offline=_count(value.get("offline")),
        fresh=[str(p) for p in fresh if isinstance(p, str)]
        if isinstance(fresh := value.get("fresh"), list)
        else [],
        calls=load_calls(value.get("calls")),
        keyless=_count(value.get("keyless")),
    )


def dump_stored(stored: StoredRoster) -> dict[str, Any]:
    dumped = {
        "v": STORED_VERSION,
        "polled_at": stored.polled_at,
        "offline": stored.offline,
        "fresh": stored.fresh,
        "players": {player_id: unit.model_dump() for player_id, unit in sorted(stored.players.items())},
    }
    # Left out when empty: a server without calls stores what it stored before.
    if stored.calls:
        dumped["calls"] = dump_calls(stored.calls)
    if stored.keyless:
        dumped["keyless"] = stored.keyless
    return dumped


def load_roster(value: Any) -> Roster:
    """The units of a stored roster (either form)."""
    return load_stored(value).players


def dump_roster(roster: Roster) -> dict[str, Any]:
    """A roster as the poller stores it, with no poll behind it (tools, tests, `relay map --roster`)."""
    return dump_stored(StoredRoster(players=roster))


def _units(value: Any) -> Roster:
    if not isinstance(value, Mapping):
        return {}
    roster: Roster = {}
    for player_id, entry in value.items():
        try:
            roster[str(player_id)] = RosterUnit.model_validate(entry)
        except ValidationError:
            continue
    return roster


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
