"""ER:LC players -> roster -> the changes the MDT must hear (pure: relay.erlc)."""

from __future__ import annotations

from typing import Any

import pytest

from relay.config.schema import ErlcServerConfig
from relay.erlc.roster import (
    build_roster,
    dump_roster,
    load_roster,
    parse_players,
    roster_changes,
    split_player,
)
from relay.errors import ErlcResponseError
from relay.models import UnitChange
from tests.support.constants import GUILD, MDT, NOW
from tests.support.data import load_event

SERVER = ErlcServerConfig(
    server_key_secret="relay/erlc/main",
    mdt_id=MDT,
    guild_id=GUILD,
    departments={"Police": "Patrol", "Sheriff": "Sheriff's Office", "Fire": "Fire"},
)


def roster(*players: dict[str, Any], server: ErlcServerConfig = SERVER) -> Any:
    return build_roster(parse_players(list(players)), server)


def police(name: str = "Ann", user_id: int = 1, callsign: str | None = "1a-12", team: str = "Police") -> dict:
    entry: dict[str, Any] = {"Player": f"{name}:{user_id}", "Team": team, "Permission": "Normal"}
    if callsign is not None:
        entry["Callsign"] = callsign
    return entry


def test_erlc_player_name_is_split_on_the_last_colon() -> None:
    assert split_player("civ:with:colons:3456789012") == ("civ:with:colons", "3456789012")
    with pytest.raises(ErlcResponseError, match="Player: expected 'Name:UserId'"):
        split_player("NoId")
    with pytest.raises(ErlcResponseError, match="is not a number"):
        split_player("Name:abc")


def test_erlc_v2_server_players_become_units_by_team_and_callsign() -> None:
    # Given the sample v2 server: Police and Sheriff with callsigns, a Civilian, Fire without one, Jail
    players = parse_players(load_event("erlc_v2_server.json"))
    # When its roster is built
    units = build_roster(players, SERVER)
    # Then only on-duty teams with a callsign are units, ids upper-cased, departments mapped
    assert {p: (u.unit_id, u.name, u.department) for p, u in units.items()} == {
        "1234567890": ("1A-12", "B_Bubbleton", "Patrol"),
        "2345678901": ("S-31", "ASmith", "Sheriff's Office"),
    }


def test_erlc_v1_list_and_empty_v2_server() -> None:
    assert [p.player_id for p in parse_players([police()])] == ["1"]
    assert parse_players({"Name": "Empty server", "CurrentPlayers": 0}) == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"Players": "none"}, "expected a list of players, got str"),
        ([1], r"Players\[0\]: expected an object"),
        ([{"Team": "Police"}], "Player: expected 'Name:UserId', got 'None'"),
    ],
)
def test_erlc_unexpected_player_lists_are_refused(payload: Any, message: str) -> None:
    with pytest.raises(ErlcResponseError, match=message):
        parse_players(payload)


def test_erlc_callsign_fallback_and_duplicate_callsigns() -> None:
    server = SERVER.model_copy(update={"callsign_fallback": "RBX-{player_id}"})
    units = roster(police("Ann", 1, None), police("Bob", 2, "X-1"), police("Cy", 3, "x-1"), server=server)
    # A player without a callsign gets the fallback id; the second claimant of X-1 is not a unit
    assert {p: u.unit_id for p, u in units.items()} == {"1": "RBX-1", "2": "X-1"}


def test_erlc_roster_changes_join() -> None:
    changes = roster_changes({}, roster(police()), SERVER, NOW)
    assert changes == [
        UnitChange(
            id="1A-12", at=NOW, fields={"officer_name": "Ann", "department": "Patrol", "status": "10-8"}
        )
    ]


def test_erlc_roster_changes_team_change_sends_the_department_only() -> None:
    changes = roster_changes(roster(police()), roster(police(team="Sheriff")), SERVER, NOW)
    assert changes == [UnitChange(id="1A-12", at=NOW, fields={"department": "Sheriff's Office"})]


def test_erlc_roster_changes_callsign_change_is_off_duty_for_the_old_unit_and_a_new_unit() -> None:
    changes = roster_changes(roster(police()), roster(police(callsign="2B-7")), SERVER, NOW)
    assert changes == [
        UnitChange(id="1A-12", at=NOW, fields={"status": "10-7"}),
        UnitChange(
            id="2B-7", at=NOW, fields={"officer_name": "Ann", "department": "Patrol", "status": "10-8"}
        ),
    ]


@pytest.mark.parametrize("after", [(), (police(team="Civilian", callsign=None),), (police(team="Jail"),)])
def test_erlc_roster_changes_leave_or_off_duty_team_is_the_off_duty_status(after: tuple[dict, ...]) -> None:
    server = SERVER.model_copy(update={"off_duty_status": "OOS"})
    changes = roster_changes(roster(police()), roster(*after), server, NOW)
    assert changes == [UnitChange(id="1A-12", at=NOW, fields={"status": "OOS"})]


def test_erlc_roster_changes_nothing_when_nothing_changed() -> None:
    # Given the same players, listed in another order, with a civilian who came and went
    before = roster(police("Ann", 1, "1A-12"), police("Bob", 2, "S-1", "Sheriff"))
    after = roster(
        police("Bob", 2, "S-1", "Sheriff"), police("Civ", 9, None, "Civilian"), police("Ann", 1, "1A-12")
    )
    assert roster_changes(before, after, SERVER, NOW) == []


def test_erlc_roster_round_trips_through_the_store_format() -> None:
    units = roster(police(), police("Bob", 2, "S-1", "Sheriff"))
    assert load_roster(dump_roster(units)) == units
    # Unreadable stored data counts as an empty roster (every unit is announced again)
    assert load_roster("garbage") == {}
    assert load_roster({"1": {"name": "no unit id"}}) == {}
