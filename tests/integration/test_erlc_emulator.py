"""The ER:LC emulator run on its own: `python -m relay_devtools.emulators.erlc`, as the Northca
emulator runs (tests/integration/test_emulator.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from relay_devtools.emulators.erlc import ErlcEmulator, player
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


# ---------------------------------------------------------------- faults over the control routes


class Clock:
    def __init__(self) -> None:
        self.now = 1_795_867_200.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def served() -> Iterator[tuple[ErlcEmulator, str, Clock]]:
    clock = Clock()
    emulator = ErlcEmulator(["K"], [player("Ann", 101, "Police", "1A-12")], clock=clock)
    url = emulator.start("127.0.0.1", 0)
    yield emulator, url, clock
    emulator.stop()


def call(method: str, url: str, body: Any = None, key: str | None = "K") -> tuple[int, Any, Any]:
    headers = {"server-key": key} if key else {}
    data = None if body is None else json.dumps(body).encode()
    response = urllib3.PoolManager(retries=False).request(method, url, body=data, headers=headers, timeout=10)
    return response.status, json.loads(response.data) if response.data else None, response.headers


def test_erlc_emulator_an_offline_server_over_the_control_route(
    served: tuple[ErlcEmulator, str, Clock],
) -> None:
    _, url, _ = served
    # Given a simulation that takes the server offline until it says otherwise
    status, _, _ = call("POST", f"{url}/_emulator/faults", [{"kind": "offline", "count": None}])
    assert status == 200
    # Then every poll gets PRC's "server offline" answer, however many there are
    for _ in range(3):
        status, body, _ = call("GET", f"{url}/v2/server?Players=true")
        assert (status, body["code"]) == (422, 3002)
    # And once the faults are cleared the players are back
    call("DELETE", f"{url}/_emulator/faults")
    status, body, _ = call("GET", f"{url}/v2/server?Players=true")
    assert (status, [p["Player"] for p in body["Players"]]) == (200, ["Ann:101"])


def test_erlc_emulator_one_offline_answer_then_the_server_again(
    served: tuple[ErlcEmulator, str, Clock],
) -> None:
    _, url, _ = served
    call("POST", f"{url}/_emulator/faults", [{"kind": "offline"}])
    assert call("GET", f"{url}/v2/server?Players=true")[0] == 422
    assert call("GET", f"{url}/v2/server?Players=true")[0] == 200


def test_erlc_emulator_an_empty_bucket_for_some_seconds(served: tuple[ErlcEmulator, str, Clock]) -> None:
    _, url, clock = served
    # Given the bucket is spent for 30 s
    call("POST", f"{url}/_emulator/faults", [{"kind": "rate_limited", "seconds": 30}])
    # Then a request 10 s later is a 429 naming the 20 s left, with the headers PRC sends
    clock.now += 10
    status, body, headers = call("GET", f"{url}/v2/server?Players=true")
    assert (status, body["code"], body["retry_after"], headers["X-RateLimit-Remaining"]) == (
        429,
        4001,
        20.0,
        "0",
    )
    _, pending, _ = call("GET", f"{url}/_emulator/faults")
    assert pending["bucket_empty_until"] == clock.now + 20
    # And once they have passed, the API answers again
    clock.now += 21
    assert call("GET", f"{url}/v2/server?Players=true")[0] == 200


@pytest.mark.parametrize(
    "specs",
    [
        {"kind": "offline"},
        [{"kind": "sleep"}],
        [{"kind": "offline", "count": 0}],
        [{"kind": "rate_limited", "seconds": -1}],
        [{"kind": "status", "status": 99}],
        [{"kind": "offline", "colour": "red"}],
    ],
)
def test_erlc_emulator_refuses_a_fault_it_cannot_inject(
    served: tuple[ErlcEmulator, str, Clock], specs: Any
) -> None:
    _, url, _ = served
    status, body, _ = call("POST", f"{url}/_emulator/faults", specs)
    assert status == 400 and "invalid faults" in body["error"]
    assert call("GET", f"{url}/_emulator/faults")[1] == {"pending": [], "bucket_empty_until": None}


def test_erlc_emulator_player_routes_are_unchanged_by_the_fault_routes(
    served: tuple[ErlcEmulator, str, Clock],
) -> None:
    # The game-night simulation drives players over these routes while faults are injected
    _, url, _ = served
    call("POST", f"{url}/_emulator/faults", [{"kind": "offline", "count": None}])
    status, players, _ = call(
        "POST", f"{url}/_emulator/players", player("Bo", 202, "Sheriff", "S-2"), key=None
    )
    assert status == 200 and [p["Player"] for p in players] == ["Ann:101", "Bo:202"]
    status, players, _ = call("DELETE", f"{url}/_emulator/players/101", key=None)
    assert [p["Player"] for p in players] == ["Bo:202"]


# ---------------------------------------------------------------- emergency calls


def test_erlc_emulator_calls_are_opened_answered_ended_and_renumbered_after_a_restart(
    served: tuple[ErlcEmulator, str, Clock],
) -> None:
    _, url, clock = served
    v2 = f"{url}/v2/server?Players=true&EmergencyCalls=true"
    # Given no call open: the list is there, empty; and absent when not asked for
    assert call("GET", v2)[1]["EmergencyCalls"] == []
    assert "EmergencyCalls" not in call("GET", f"{url}/v2/server?Players=true")[1]
    # When a civilian dials 911, and Ann answers
    status, opened, _ = call(
        "POST", f"{url}/_emulator/calls", {"Team": "Police", "Caller": 900, "Description": "Help"}
    )
    assert (status, opened["CallNumber"], opened["StartedAt"]) == (200, 1, int(clock.now))
    call("PATCH", f"{url}/_emulator/calls/1", {"Players": [101]})
    [listed] = call("GET", v2)[1]["EmergencyCalls"]
    assert listed == {
        "Team": "Police",
        "Caller": 900,
        "Players": [101],
        "Position": [0.0, 0.0],
        "StartedAt": int(clock.now),
        "CallNumber": 1,
        "Description": "Help",
        "PositionDescriptor": "",
    }
    # Then the next call is number 2; a restart ends them all and numbers from 1 again
    assert call("POST", f"{url}/_emulator/calls", {"Team": "Fire"})[1]["CallNumber"] == 2
    assert call("DELETE", f"{url}/_emulator/calls/2")[0] == 200
    assert call("DELETE", f"{url}/_emulator/calls/2")[0] == 404
    call("POST", f"{url}/_emulator/calls/restart")
    assert call("GET", v2)[1]["EmergencyCalls"] == []
    assert call("POST", f"{url}/_emulator/calls", {"Team": "DOT"})[1]["CallNumber"] == 1


def test_erlc_emulator_modes_and_faults_for_the_calls_list(served: tuple[ErlcEmulator, str, Clock]) -> None:
    _, url, _ = served
    v2 = f"{url}/v2/server?Players=true&EmergencyCalls=true"
    assert call("POST", f"{url}/_emulator/modes", {"empty_calls": "omitted"})[0] == 200
    assert "EmergencyCalls" not in call("GET", v2)[1]
    assert call("POST", f"{url}/_emulator/modes", {"empty_calls": "sometimes"})[0] == 400
    call("POST", f"{url}/_emulator/calls", {"Team": "Police"})
    call("POST", f"{url}/_emulator/faults", [{"kind": "no_calls", "count": 1}])
    assert "EmergencyCalls" not in call("GET", v2)[1]
    assert len(call("GET", v2)[1]["EmergencyCalls"]) == 1
