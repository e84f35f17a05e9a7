"""The ER:LC client and the scheduled poll over real loopback HTTP, against the ER:LC emulator."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from relay.aws.dynamodb import DynamoSourceStateStore
from relay.aws.secrets import PowertoolsSecrets
from relay.aws.sqs import SqsPublisher
from relay.config.schema import ErlcServerConfig
from relay.erlc.client import ErlcClient, client_factory
from relay.erlc.poller import RosterPollDeps
from relay.erlc.roster import ROSTER_SK
from relay.errors import (
    ErlcAuthError,
    ErlcError,
    ErlcOfflineError,
    ErlcRateLimitedError,
    ErlcUnavailableError,
)
from relay.handlers import scheduled
from relay_devtools.emulators.erlc import ErlcEmulator, ErlcFault, player
from tests.support.aws import create_unit_state_table, drain
from tests.support.constants import GUILD, MDT
from tests.support.data import load_event

KEY = "erlc-server-key-for-tests"


@pytest.fixture
def erlc() -> Iterator[tuple[ErlcEmulator, str]]:
    emulator = ErlcEmulator([KEY], load_event("erlc_v2_server.json")["Players"])
    url = emulator.start("127.0.0.1", 0)
    yield emulator, url
    emulator.stop()


def client(url: str, key: str = KEY, **kwargs: Any) -> ErlcClient:
    return ErlcClient(url, key, connect_timeout=5, read_timeout=10, **kwargs)  # only faults time out


def test_erlc_client_reads_v2_players_and_the_rate_limit_headers(erlc: tuple[ErlcEmulator, str]) -> None:
    emulator, url = erlc
    answer = client(url).players()
    assert answer.version == "v2"
    assert [p.player_id for p in answer.players][:2] == ["1234567890", "2345678901"]
    assert answer.rate_limit is not None
    assert (answer.rate_limit.bucket, answer.rate_limit.limit, answer.rate_limit.remaining) == (
        "global",
        35,
        34,
    )
    [request] = emulator.requests()
    assert (request["path"], request["key_sent"]) == ("/v2/server?Players=true&EmergencyCalls=true", True)
    assert answer.calls == []  # asked in the same request: none open


def test_erlc_client_falls_back_to_v1_when_v2_is_not_served(erlc: tuple[ErlcEmulator, str]) -> None:
    emulator, url = erlc
    emulator.v2_enabled = False
    answer = client(url).players()
    assert (answer.version, len(answer.players), answer.calls) == ("v1", 5, None)  # v1 has no calls
    assert [r["path"] for r in emulator.requests()] == [
        "/v2/server?Players=true&EmergencyCalls=true",
        "/v1/server/players",
    ]


def test_erlc_client_v1_when_configured(erlc: tuple[ErlcEmulator, str]) -> None:
    emulator, url = erlc
    assert client(url, api_version="v1").players().version == "v1"
    assert [r["path"] for r in emulator.requests()] == ["/v1/server/players"]


def test_erlc_client_reads_the_emergency_calls_in_the_same_request(erlc: tuple[ErlcEmulator, str]) -> None:
    emulator, url = erlc
    emulator.calls.open(
        {"Team": "Fire", "Caller": 3456789012, "Description": "Smoke", "StartedAt": 1795867185}
    )
    emulator.calls.open({"CallNumber": "junk", "Players": "oops"})  # a shape nobody documents
    answer = client(url).players()
    [call] = [c for c in answer.calls or [] if c.team == "Fire"]
    assert (call.number, call.started_at, call.caller, call.description) == (
        1,
        1795867185,
        "3456789012",
        "Smoke",
    )
    assert len(answer.players) == 5 and len(emulator.requests()) == 1


@pytest.mark.parametrize("how", ["omitted", "no_calls"])
def test_erlc_client_an_answer_without_the_calls_list_is_no_news(
    erlc: tuple[ErlcEmulator, str], how: str
) -> None:
    emulator, url = erlc
    if how == "omitted":
        emulator.calls.empty_calls = "omitted"  # PRC may leave an empty list out
    else:
        emulator.calls.open({"Team": "Police"})
        emulator.add_faults([ErlcFault(kind="no_calls")])
    answer = client(url).players()
    assert (answer.calls, len(answer.players)) == (None, 5)


def test_erlc_client_429_carries_retry_after(erlc: tuple[ErlcEmulator, str]) -> None:
    emulator, url = erlc
    emulator.rate_limit = 1
    client(url).players()
    with pytest.raises(ErlcRateLimitedError) as caught:
        client(url).players()
    assert caught.value.bucket == "global"
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 60


def test_erlc_client_429_retry_after_header_when_the_body_has_none(erlc: tuple[ErlcEmulator, str]) -> None:
    emulator, url = erlc
    emulator.add_faults([ErlcFault(status=429, body={"message": "slow down"}, headers={"Retry-After": "7"})])
    with pytest.raises(ErlcRateLimitedError) as caught:
        client(url).players()
    assert caught.value.retry_after == 7.0


def test_erlc_client_an_invalid_server_key_is_an_auth_error(erlc: tuple[ErlcEmulator, str]) -> None:
    _, url = erlc
    with pytest.raises(ErlcAuthError) as caught:
        client(url, key="wrong").players()
    assert (caught.value.status, caught.value.code) == (403, 2002)


@pytest.mark.parametrize(
    "fault",
    [
        ErlcFault(status=500, body={"message": "boom"}),
        ErlcFault(status=400, body={"code": 1001}),
        ErlcFault(drop=True),
    ],
)
def test_erlc_client_server_trouble_is_unavailable(erlc: tuple[ErlcEmulator, str], fault: ErlcFault) -> None:
    emulator, url = erlc
    emulator.add_faults([fault])
    with pytest.raises(ErlcUnavailableError):
        client(url).players()


def test_erlc_client_does_not_follow_redirects(erlc: tuple[ErlcEmulator, str]) -> None:
    emulator, url = erlc
    emulator.add_faults([ErlcFault(status=302, headers={"Location": "http://127.0.0.1:9/steal"})])
    with pytest.raises(ErlcError, match="unexpected HTTP 302"):
        client(url).players()
    assert len(emulator.requests()) == 1


@pytest.mark.parametrize(
    "fault",
    [
        ErlcFault(status=422, body={"code": 3002, "message": "Server offline"}),
        ErlcFault(status=422, body={"message": "The private server has no players in it"}),
        ErlcFault(status=400, body={"code": 3002}),
    ],
)
def test_erlc_client_an_offline_answer_is_its_own_error_not_an_empty_server(
    erlc: tuple[ErlcEmulator, str], fault: ErlcFault
) -> None:
    # One "offline" answer is not everyone leaving: the poller counts them (relay.erlc.sync)
    emulator, url = erlc
    emulator.add_faults([fault])
    with pytest.raises(ErlcOfflineError, match="server offline"):
        client(url).players()


def test_erlc_client_a_v2_answer_counting_players_but_listing_none_is_an_error(
    erlc: tuple[ErlcEmulator, str],
) -> None:
    emulator, url = erlc
    emulator.add_faults([ErlcFault(status=200, body={"Name": "RP", "CurrentPlayers": 39})])
    with pytest.raises(ErlcError, match="none listed while CurrentPlayers is 39"):
        client(url).players()


def test_erlc_client_an_unreachable_api_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more
    with pytest.raises(ErlcUnavailableError):
        client(f"http://127.0.0.1:{port}").players()


# ---------------------------------------------------------------- the scheduled function, moto + emulator


@pytest.fixture
def state_table(aws: dict[str, Any]) -> str:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_unit_state_table(dynamodb, "unit-state")
    aws["secretsmanager"].create_secret(Name="relay/erlc/main", SecretString=KEY)
    return "unit-state"


@pytest.fixture
def scheduled_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws: dict[str, Any], state_table: str, erlc: Any
) -> RosterPollDeps:
    _, url = erlc
    config = tmp_path / "relay.toml"
    config.write_text(
        "\n".join(
            [
                '[northca]\npartner_key_secret = "northca/partner-key"',
                "[erlc.servers.main]",
                'server_key_secret = "relay/erlc/main"',
                f'mdt_id = "{MDT}"\nguild_id = "{GUILD}"',
                'departments = { Police = "Patrol", Sheriff = "Sheriff" }',
            ]
        )
    )
    monkeypatch.setenv("RELAY_CONFIG", str(config))
    monkeypatch.setenv("QUEUE_URL", aws["queue_url"])
    monkeypatch.setenv("STATE_TABLE", state_table)
    return RosterPollDeps(
        store=DynamoSourceStateStore(state_table, boto3.client("dynamodb", region_name="us-east-1")),
        publisher=SqsPublisher(aws["queue_url"], aws["sqs"]),
        secrets=PowertoolsSecrets(),
        make_client=client_factory(url),
    )


def test_scheduled_poll_enqueues_the_roster_then_nothing_until_it_changes(
    scheduled_env: RosterPollDeps, aws: dict[str, Any], erlc: tuple[ErlcEmulator, str], lambda_context
) -> None:
    emulator, _ = erlc
    event = load_event("schedule_erlc_roster.json")
    # Given the sample server (a Police and a Sheriff unit on duty), when the schedule fires
    first = scheduled.lambda_handler(event, lambda_context, deps=scheduled_env)
    # Then both units are queued as one message from erlc:main, and the roster is in DynamoDB
    [message] = [json.loads(m["Body"]) for m in drain(aws["sqs"], aws["queue_url"])]
    assert first["servers"][0]["result"] == "changed"
    assert (message["source"], message["mdt_id"]) == ("erlc:main", MDT)
    assert [c["id"] for c in message["changes"]] == ["1A-12", "S-31"]
    stored = scheduled_env.store.get("roster#main", ROSTER_SK)
    assert sorted(stored["players"]) == ["1234567890", "2345678901"]
    # When it fires again with nothing changed, nothing is queued
    again = scheduled.lambda_handler(event, lambda_context, deps=scheduled_env)
    assert again["servers"][0]["result"] == "unchanged"
    assert drain(aws["sqs"], aws["queue_url"]) == []
    # When the Sheriff leaves, exactly that unit goes off duty, once two polls in a row miss them
    emulator.remove_player(2345678901)
    scheduled.lambda_handler(event, lambda_context, deps=scheduled_env)
    assert drain(aws["sqs"], aws["queue_url"]) == []
    scheduled.lambda_handler(event, lambda_context, deps=scheduled_env)
    [message] = [json.loads(m["Body"]) for m in drain(aws["sqs"], aws["queue_url"])]
    assert message["changes"] == [{"id": "S-31", "at": message["received_at"], "fields": {"status": "10-7"}}]


def test_scheduled_poll_a_joining_player_is_one_new_unit(
    scheduled_env: RosterPollDeps, aws: dict[str, Any], erlc: tuple[ErlcEmulator, str], lambda_context
) -> None:
    emulator, _ = erlc
    scheduled.lambda_handler({"task": "erlc-roster"}, lambda_context, deps=scheduled_env)
    drain(aws["sqs"], aws["queue_url"])
    emulator.add_player(player("NewCop", 42, "Police", "1a-99"))
    scheduled.lambda_handler({"task": "erlc-roster"}, lambda_context, deps=scheduled_env)
    [message] = [json.loads(m["Body"]) for m in drain(aws["sqs"], aws["queue_url"])]
    assert [(c["id"], c["fields"]) for c in message["changes"]] == [
        ("1A-99", {"officer_name": "NewCop", "department": "Patrol", "status": "10-8"})
    ]


def test_erlc_server_config_default_base_url_is_prcs() -> None:
    server = ErlcServerConfig(server_key_secret="k", mdt_id=MDT, guild_id=GUILD)
    assert str(server.base_url).rstrip("/") == "https://api.erlc.gg"
