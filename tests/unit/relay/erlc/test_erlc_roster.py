"""ER:LC players -> units -> the roster as stored (pure: relay.erlc.roster). What a poll changes is
tests/unit/relay/erlc/test_erlc_sync.py's."""

from __future__ import annotations

from typing import Any

import pytest

from relay.config.schema import ErlcServerConfig
from relay.erlc.roster import (
    StoredRoster,
    build_roster,
    dump_roster,
    dump_stored,
    load_roster,
    load_stored,
    parse_players,
    split_player,
)
from relay.errors import ErlcResponseError
from tests.support.constants import GUILD, MDT
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


def test_erlc_roster_round_trips_through_the_store_format() -> None:
    units = roster(police(), police("Bob", 2, "S-1", "Sheriff"))
    assert load_roster(dump_roster(units)) == units
    # Unreadable stored data counts as an empty roster (every unit is announced again)
    assert load_roster("garbage") == {}
    assert load_roster({"1": {"name": "no unit id"}}) == {}


def test_erlc_roster_stored_before_polls_were_kept_is_read() -> None:
    # Given a roster stored by the poller before this version (a bare map of player id to unit)
    units = roster(police())
    old_form = {player_id: unit.model_dump(exclude={"since", "absent"}) for player_id, unit in units.items()}
    # Then its units are read, with no poll time and no absence behind them
    stored = load_stored(old_form)
    assert (stored.players, stored.polled_at, stored.offline) == (units, None, 0)


def test_erlc_roster_keeps_the_poll_time_offline_count_and_absences() -> None:
    units = {
        p: u.model_copy(update={"absent": 1, "since": 1795867000.5}) for p, u in roster(police()).items()
    }
    stored = StoredRoster(players=units, polled_at=1795867200.25, offline=2)
    assert load_stored(dump_stored(stored)) == stored
    # A stored value that is not a number is no poll time (its units still count)
    assert load_stored({**dump_stored(stored), "polled_at": "yesterday", "offline": True}).polled_at is None


def test_erlc_an_answer_that_counts_players_but_lists_none_is_not_an_empty_server() -> None:
    # A v2 answer without its Players while CurrentPlayers says 39: not "everyone left"
    with pytest.raises(ErlcResponseError, match="none listed while CurrentPlayers is 39"):
        parse_players({"Name": "RP", "CurrentPlayers": 39})
    with pytest.raises(ErlcResponseError):
        parse_players({"Name": "RP", "CurrentPlayers": 39, "Players": []})
