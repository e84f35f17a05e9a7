"""The game night's model of what a dispatcher should see (relay_devtools.gamenight.model): the game's
truth, taken record by record at each record's own time."""

from __future__ import annotations

import math

import pytest

from relay_devtools.gamenight.model import build_model
from relay_devtools.gamenight.records import Outage, PartnerFault
from relay_devtools.gamenight.rules import canonical_id, read_command, relay_toml
from tests.support.gamenight import cad_status, callsign, edit, join, leave, login, logout, team, typed


@pytest.mark.parametrize(
    ("text", "status"),
    [
        (";status Available", "10-8"),
        (";STATUS available", "10-8"),
        (";10-08", "10-8"),
        (";10-6", "10-6"),
        (";status 10-6 at scene", "10-6"),
        (";s 10-97", "10-97"),
        (";busy", "10-6"),
        (";avail", "10-8"),
        (";10-76", "10-76"),
        (";10-99", None),  # not a status the community allows
        (";status", None),
        (";help", None),
        (";ban Troll_99", None),
        ("10-6", None),  # chat, not a command
        (";", None),
    ],
)
def test_gamenight_model_reads_a_command_as_the_player_means_it(text: str, status: str | None) -> None:
    assert read_command(text) == status


def test_gamenight_model_one_officer_is_one_unit_whatever_the_case_of_the_callsign() -> None:
    assert canonical_id(" 1a-07 ") == canonical_id("1A-07") == "1A-07"
    model = build_model([join(0, "1", "1A-07"), login(40, "1a-07")])
    assert list(model.final()) == ["1A-07"]


def test_gamenight_model_a_command_typed_right_after_joining_wins_over_the_joins_default() -> None:
    # Given a player who joins and types ;10-6 three seconds later (before any roster poll)
    model = build_model([join(100, "1"), typed(103, "1", ";10-6")])
    # Then their unit is 10-6, and the join alone showed 10-8 for those three seconds
    assert model.final()["1A-07"]["status"] == "10-6"
    command = next(e for e in model.expectations if e.path == "command")
    assert command.wants == {"status": "10-6"} and command.until == math.inf
    joined = next(e for e in model.expectations if e.path == "join")
    assert joined.wants is None and joined.until == math.inf


def test_gamenight_model_takes_each_command_at_the_second_it_was_typed_not_when_it_arrived() -> None:
    # Given ;10-6 typed at 110 but delivered after ;10-97 typed at 115
    model = build_model(
        [join(100, "1"), typed(115, "1", ";10-97", sent=116), typed(110, "1", ";10-6", sent=130)]
    )
    assert model.final()["1A-07"]["status"] == "10-97"
    first = next(e for e in model.expectations if e.wants == {"status": "10-6"})
    assert first.until == 115  # it stood five seconds: too short to judge a relay by


def test_gamenight_model_a_civilians_command_or_chat_changes_nothing() -> None:
    model = build_model(
        [join(0, "1", None, team="Civilian"), typed(10, "1", ";10-6"), typed(20, "2", ";10-6")]
    )
    assert model.final() == {} and model.ignored_commands == 2


def test_gamenight_model_a_cad_logout_leaves_a_player_who_is_in_game_on_duty() -> None:
    model = build_model([join(0, "1"), login(40), typed(60, "1", ";10-97"), logout(80)])
    assert model.final()["1A-07"]["status"] == "10-97"
    assert not [e for e in model.expectations if e.path == "cad" and e.wants == {"status": "10-7"}]


def test_gamenight_model_the_unit_goes_off_duty_when_the_last_source_lets_it_go() -> None:
    # Given a player in game and logged in to the CAD, who leaves the game, then logs out of the CAD
    records = [join(0, "1"), login(40, code=2), leave(60, "1")]
    assert build_model(records).final()["1A-07"]["status"] == "10-8"
    model = build_model([*records, logout(90)])
    assert model.final()["1A-07"]["status"] == "10-7"
    assert model.on_duty_throughout("1A-07", 0, 89) and not model.on_duty_throughout("1A-07", 0, 90)


def test_gamenight_model_the_cads_name_and_department_stand_over_the_games_whichever_came_first() -> None:
    for records in ([join(0, "1"), login(40)], [login(0), join(40, "1")]):
        final = build_model(records).final()["1A-07"]
        assert (final["officer_name"], final["department"], final["rank"]) == ("Sgt Rossi", "LSPD", "SGT")


def test_gamenight_model_a_cad_status_is_read_through_the_communitys_table() -> None:
    model = build_model([join(0, "1"), login(40, code=0), cad_status(60, 3)])
    assert model.final()["1A-07"]["status"] == "10-76"
    assert [e.wants for e in model.expectations if e.path == "cad"][-1] == {"status": "10-76"}


def test_gamenight_model_a_rejoin_does_not_undo_a_dispatchers_name_edit_but_puts_the_unit_back_on_duty() -> (
    None
):
    # Given a dispatcher who fixed a player's name, and the player who then leaves and comes back
    records = [
        join(0, "1"),
        edit(50, "1A-07", officer_name="Sgt. Fixed Name"),
        leave(100, "1"),
        join(200, "1"),
    ]
    final = build_model(records).final()["1A-07"]
    # Then the name stands (the game says again what it said), and the rejoin is on duty
    assert final == {"officer_name": "Sgt. Fixed Name", "department": "Patrol", "status": "10-8"}
    check = build_model(records).edits[0]
    assert (check.field, check.until) == ("officer_name", math.inf)


def test_gamenight_model_a_later_real_change_wins_over_a_dispatchers_edit() -> None:
    records = [join(0, "1"), edit(50, "1A-07", department="Traffic"), team(100, "1", "Sheriff")]
    model = build_model(records)
    assert model.final()["1A-07"]["department"] == "Sheriff's Office"
    assert model.edits[0].until == 100


def test_gamenight_model_a_players_command_wins_over_an_older_status_edit_every_time() -> None:
    records = [
        join(0, "1"),
        typed(20, "1", ";10-8"),
        edit(50, "1A-07", status="10-6"),
        typed(60, "1", ";10-8"),
    ]
    model = build_model(records)
    assert model.final()["1A-07"]["status"] == "10-8"
    assert model.edits[0].until == 60


def test_gamenight_model_a_callsign_change_is_a_new_unit() -> None:
    model = build_model(
        [join(0, "1", "1A-07"), typed(20, "1", ";10-6"), callsign(50, "1", "1A-09"), typed(60, "1", ";10-97")]
    )
    final = model.final()
    assert final["1A-07"]["status"] == "10-7"
    assert final["1A-09"]["status"] == "10-97"


def test_gamenight_model_an_outage_or_a_partner_fault_is_not_a_change_in_the_game() -> None:
    records = [join(0, "1"), typed(20, "1", ";10-6")]
    blips = [
        Outage(30, "offline", "approximated"),
        Outage(40, "rate-limit"),
        PartnerFault(35, {"kind": "status"}),
    ]
    assert build_model([*records, *blips]).final() == build_model(records).final()


def test_gamenight_model_an_edit_that_found_no_unit_is_not_in_the_model() -> None:
    skipped = edit(50, "1A-07", officer_name="X")
    skipped = type(skipped)(skipped.at, skipped.unit, skipped.fields, None, False)
    assert build_model([join(0, "1"), skipped]).final()["1A-07"]["officer_name"] == "Player_1"


def test_gamenight_relay_toml_is_a_config_the_relay_loads(tmp_path: object) -> None:
    from pathlib import Path

    from relay.config.loader import load_config

    path = Path(str(tmp_path)) / "relay.toml"
    path.write_text(relay_toml())
    config = load_config(path)
    assert set(config.sources) == {"erlc", "sonoran"} and set(config.erlc.servers) == {"main"}
