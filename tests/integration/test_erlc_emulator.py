"""The ER:LC emulator run on its own: `python -m relay_devtools.emulators.erlc`, as the Northca
emulator runs (tests/integration/test_emulator.py)."""

from __future__ import annotations

import json

import pytest
import urllib3

from relay_devtools.emulators.erlc.__main__ import parse_args
from tests.support.standalone import standalone_emulator


def test_erlc_emulator_command_line_reads_keys_players_and_the_v1_mode() -> None:
    # Given two keys, two players (one with a team and callsign) and --v1-only
    players = ["--player", "Ann:101", "--player", "Bo:202:Sheriff:2B-7"]
    args = parse_args(["--server-key", "K1", "--server-key", "K2", *players, "--v1-only"])
    # Then they are read as PRC's player objects, on the default port
    assert (args.host, args.port, args.server_key, args.v1_only) == ("127.0.0.1", 4020, ["K1", "K2"], True)
    assert args.player == [
        {"Player": "Ann:101", "Permission": "Normal", "Team": "Police"},
        {"Player": "Bo:202", "Permission": "Normal", "Team": "Sheriff", "Callsign": "2B-7"},
    ]


@pytest.mark.parametrize(
    "argv", [[], ["--server-key", "K", "--player", "Ann"], ["--server-key", "K", "--player", "Ann:x1"]]
)
def test_erlc_emulator_command_line_refuses_no_key_and_a_player_without_a_numeric_id(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_erlc_emulator_serves_standalone_until_terminated() -> None:
    # Given `python -m relay_devtools.emulators.erlc` on an ephemeral port with one player
    args = ["--port", "0", "--server-key", "K", "--player", "Ann:101::1A-12"]
    with standalone_emulator("relay_devtools.emulators.erlc", *args) as (proc, url):
        # When the poller's request is sent with the key
        response = urllib3.PoolManager(retries=False).request(
            "GET", f"{url}/v2/server?Players=true", headers={"server-key": "K"}, timeout=10
        )
        # Then the player is on the server, and SIGTERM stops it cleanly
        assert response.status == 200
        assert json.loads(response.data)["Players"] == [
            {"Player": "Ann:101", "Permission": "Normal", "Team": "Police", "Callsign": "1A-12"}
        ]
        proc.terminate()
        assert proc.wait(timeout=10) == 0
