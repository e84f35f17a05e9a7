"""The roster poll (relay.erlc.poller) with fakes for the API, the queue and the secrets."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from relay.config.schema import ErlcServerConfig
from relay.erlc.client import rate_limit_from_headers
from relay.erlc.poller import RosterPollDeps, poll_server, poll_servers
from relay.errors import (
    ErlcAuthError,
    ErlcOfflineError,
    ErlcRateLimitedError,
    ErlcUnavailableError,
    QueueUnavailableError,
)
from relay.handlers import scheduled
from relay.memory import InMemorySourceStateStore, StaticSecrets
from relay.messages import QueueMessage
from relay.models import UnitChange
from relay.ports.erlc import ErlcPlayer, PlayersAnswer, RateLimit
from tests.support.clocks import FixedClock
from tests.support.constants import ACTOR, GUILD, MDT, NOW

KEY = "server-key-for-tests"
SERVER = ErlcServerConfig(
    server_key_secret="relay/erlc/main",
    mdt_id=MDT,
    guild_id=GUILD,
    actor=ACTOR,
    departments={"Police": "Patrol"},
)
ANN = ErlcPlayer(name="Ann", player_id="1", team="Police", callsign="1A-12")


class FakeApi:
    """Answers queued by the test, one per call; records the key each call used."""

    def __init__(self) -> None:
        self.answers: list[PlayersAnswer | Exception] = []
        self.keys: list[str] = []

    def make(self, server: ErlcServerConfig, key: str) -> FakeApi:
        self.keys.append(key)
        return self

    def players(self) -> PlayersAnswer:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def will_list(self, *players: ErlcPlayer, rate_limit: RateLimit | None = None) -> None:
        self.answers.append(PlayersAnswer(list(players), "v2", rate_limit))


class FakePublisher:
    def __init__(self) -> None:
        self.sent: list[QueueMessage] = []
        self.fail = False

    def send(self, messages: list[QueueMessage]) -> int:
        if self.fail:
            raise QueueUnavailableError()
        self.sent.extend(messages)
        return len(messages)


class World:
    def __init__(self) -> None:
        self.clock = FixedClock()
        self.api = FakeApi()
        self.publisher = FakePublisher()
        self.secrets = StaticSecrets({"relay/erlc/main": KEY})
        self.store = InMemorySourceStateStore(clock=self.clock)
        self.deps = RosterPollDeps(
            store=self.store,
            publisher=self.publisher,
            secrets=self.secrets,
            make_client=self.api.make,
            clock=self.clock,
        )

    def poll(self, server: ErlcServerConfig = SERVER) -> Any:
        return poll_server("main", server, self.deps)

    def changes(self) -> list[UnitChange]:
        return [change for message in self.publisher.sent for change in message.changes]


@pytest.fixture
def world() -> World:
    return World()


def police(
    callsign: str = "1A-12", team: str = "Police", name: str = "Ann", player_id: str = "1"
) -> ErlcPlayer:
    return ErlcPlayer(name=name, player_id=player_id, team=team, callsign=callsign)


def test_poll_a_join_is_enqueued_as_the_ingress_would(world: World) -> None:
    # Given an empty roster and a Police player with a callsign on the server
    world.api.will_list(police())
    # When the poll runs
    outcome = world.poll()
    # Then one message for the server's MDT carries the new unit
    assert (outcome.result, outcome.changes) == ("changed", 1)
    [message] = world.publisher.sent
    assert (message.source, message.mdt_id, message.guild_id, message.actor) == (
        "erlc:main",
        MDT,
        GUILD,
        ACTOR,
    )
    # dated two minutes back: no earlier poll says when the player joined (relay.erlc.sync)
    assert message.changes == [
        UnitChange(
            id="1A-12",
            at=NOW - timedelta(minutes=2),
            fields={"officer_name": "Ann", "department": "Patrol", "status": "10-8"},
        )
    ]


def test_poll_never_enqueues_when_nothing_changed(world: World) -> None:
    world.api.will_list(police())
    world.poll()
    # Given the same players on the next two polls
    world.api.will_list(police())
    world.api.will_list(police(), ErlcPlayer(name="Civ", player_id="9", team="Civilian"))
    # Then nothing more is sent
    assert [world.poll().result, world.poll().result] == ["unchanged", "unchanged"]
    assert len(world.publisher.sent) == 1


def test_poll_team_change_callsign_change_and_leave(world: World) -> None:
    server = SERVER.model_copy(update={"departments": {"Police": "Patrol", "Sheriff": "SO"}})
    world.api.will_list(police())
    world.poll(server)
    world.publisher.sent.clear()
    # Team change: the same unit's department
    world.api.will_list(police(team="Sheriff"))
    world.poll(server)
    # Callsign change: the old unit goes off duty, the new one comes on
    world.api.will_list(police(callsign="2B-7", team="Sheriff"))
    world.poll(server)
    # Leave: the unit goes off duty once two polls in a row miss the player
    world.api.will_list()
    world.api.will_list()
    world.poll(server)
    world.poll(server)
    assert world.changes() == [
        UnitChange(id="1A-12", at=NOW, fields={"department": "SO"}),
        UnitChange(id="1A-12", at=NOW, fields={"status": "10-7"}),
        UnitChange(id="2B-7", at=NOW, fields={"officer_name": "Ann", "department": "SO", "status": "10-8"}),
        UnitChange(id="2B-7", at=NOW, fields={"status": "10-7"}),
    ]


def test_poll_429_holds_the_server_until_retry_after(world: World) -> None:
    # Given the API answers 429 with retry_after 30 s
    world.api.answers.append(ErlcRateLimitedError("rate limited", retry_after=30.0, bucket="global"))
    outcome = world.poll()
    assert outcome.result == "rate-limited"
    # When the next schedule ticks 10 s later, the API is not called at all
    world.clock.advance(10)
    assert world.poll().result == "held"
    assert len(world.api.keys) == 1
    # Then once retry_after has passed, polling resumes
    world.clock.advance(21)
    world.api.will_list(police())
    assert world.poll().result == "changed"


def test_poll_an_empty_rate_limit_bucket_holds_until_its_reset(world: World) -> None:
    reset = NOW.timestamp() + 45
    world.api.will_list(police(), rate_limit=RateLimit("global", 35, 0, reset))
    assert world.poll().result == "changed"
    world.clock.advance(44)
    assert world.poll().result == "held"
    world.clock.advance(2)
    world.api.will_list(police())
    assert world.poll().result == "unchanged"


def test_poll_an_invalid_server_key_changes_nothing(world: World) -> None:
    world.api.will_list(police())
    world.poll()
    world.publisher.sent.clear()
    # Given the key is refused (and Secrets Manager holds no newer one)
    world.api.answers.append(ErlcAuthError("server key refused (invalid)", 403, 2002))
    outcome = world.poll()
    # Then the outcome says so, nothing is sent and the roster is kept for the next poll
    assert (outcome.result, world.publisher.sent) == ("auth-failed", [])
    assert world.secrets.fetches[-1] == ("relay/erlc/main", True)
    world.api.will_list(police())
    assert world.poll().result == "unchanged"


def test_poll_a_rotated_server_key_is_fetched_again_and_used(world: World) -> None:
    # Given a cached key the API refuses, while Secrets Manager already holds a newer one
    world.deps.secrets = StaleThenFresh(KEY, "rotated-key")
    world.api.answers.append(ErlcAuthError("server key refused", 403, 2002))
    world.api.will_list(police())
    # When the poll runs, then it fetches the secret again and retries once with the new key
    assert world.poll().result == "changed"
    assert world.api.keys == [KEY, "rotated-key"]


class StaleThenFresh:
    """A cache that hands out the old key until asked to fetch again."""

    def __init__(self, stale: str, fresh: str) -> None:
        self.stale, self.fresh = stale, fresh

    def get(self, name: str, *, force_fetch: bool = False) -> list[str]:
        return [self.fresh if force_fetch else self.stale]


def test_poll_an_unreachable_api_changes_nothing(world: World) -> None:
    world.api.answers.append(ErlcUnavailableError("GET /v2/server?Players=true: NewConnectionError"))
    outcome = world.poll()
    assert (outcome.result, world.publisher.sent, world.store.items) == ("unavailable", [], {})


def test_poll_a_queue_failure_keeps_the_old_roster_so_the_next_poll_resends(world: World) -> None:
    world.publisher.fail = True
    world.api.will_list(police())
    [outcome] = poll_servers({"main": SERVER}, world.deps)
    assert outcome.result == "failed"
    world.publisher.fail = False
    world.api.will_list(police())
    assert world.poll().result == "changed"
    assert len(world.changes()) == 1


def test_poll_one_failing_server_does_not_stop_the_others(world: World) -> None:
    world.api.answers.append(ErlcUnavailableError("down"))
    world.api.will_list(police())
    outcomes = poll_servers({"down": SERVER, "up": SERVER}, world.deps)
    assert [(o.server, o.result) for o in outcomes] == [("down", "unavailable"), ("up", "changed")]
    assert [m.source for m in world.publisher.sent] == ["erlc:up"]


def test_poll_an_empty_secret_is_an_auth_failure(world: World) -> None:
    world.deps.secrets = StaticSecrets({})
    assert world.poll().result == "auth-failed"


def test_rate_limit_headers_are_read_case_insensitively_and_reset_may_be_millis() -> None:
    headers = {
        "x-ratelimit-bucket": "global",
        "x-ratelimit-limit": "35",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "1795867250000",
    }
    limit = rate_limit_from_headers(headers)
    assert limit == RateLimit("global", 35, 0, 1795867250.0)
    assert limit.hold_until() == 1795867250.0
    assert rate_limit_from_headers({"content-type": "application/json"}) is None
    assert RateLimit("global", 35, 3, 1795867250.0).hold_until() is None


# ---------------------------------------------------------------- the scheduled handler


@pytest.fixture
def relay_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "relay.toml"
    path.write_text(
        "\n".join(
            [
                '[northca]\npartner_key_secret = "northca/partner-key"',
                "[erlc.servers.main]",
                'server_key_secret = "relay/erlc/main"',
                f'mdt_id = "{MDT}"\nguild_id = "{GUILD}"',
                'departments = { Police = "Patrol" }',
            ]
        )
    )
    monkeypatch.setenv("RELAY_CONFIG", str(path))
    monkeypatch.setenv("QUEUE_URL", "https://sqs.invalid/queue")
    monkeypatch.setenv("STATE_TABLE", "state")
    return path


def test_scheduled_handler_polls_every_server_and_reports(
    world: World, relay_toml: Path, lambda_context
) -> None:
    world.api.will_list(police())
    answer = scheduled.lambda_handler({"task": "erlc-roster"}, lambda_context, deps=world.deps)
    assert answer == {
        "task": "erlc-roster",
        "servers": [{"server": "main", "result": "changed", "changes": 1, "detail": "", "calls": 0}],
    }
    json.dumps(answer)  # the invocation result must be JSON


@pytest.mark.parametrize("event", [{}, {"task": "dlq-check"}, {"detail-type": "Scheduled Event"}])
def test_scheduled_handler_refuses_an_unknown_task(
    event: dict[str, Any], world: World, relay_toml: Path, lambda_context
) -> None:
    with pytest.raises(scheduled.UnknownTaskError, match="not a scheduled task"):
        scheduled.lambda_handler(event, lambda_context, deps=world.deps)
    assert world.api.keys == []


# ---------------------------------------------------------------- a player is gone when the game says so


def test_poll_a_3002_while_39_are_in_game_sends_nobody_off_duty(world: World) -> None:
    # Given 39 players on duty
    cops = [police(f"1A-{n:02d}", name=f"Cop_{n}", player_id=str(n)) for n in range(1, 40)]
    world.api.will_list(*cops)
    world.poll()
    world.publisher.sent.clear()
    # When PRC answers "server offline" once (code 3002), then lists them again a minute later
    world.api.answers.append(ErlcOfflineError("GET /v2/server?Players=true: server offline", 422, 3002))
    outcome = world.poll()
    world.api.will_list(*cops)
    # Then nothing was sent at all, and the poll says why
    assert (outcome.result, outcome.changes) == ("offline", 0)
    assert "1 of 3 in a row" in outcome.detail
    assert world.poll().result == "unchanged"
    assert world.publisher.sent == []


def test_poll_a_server_offline_three_polls_in_a_row_ends_the_night(world: World) -> None:
    world.api.will_list(police(), police("1A-20", name="Bo", player_id="2"))
    world.poll()
    world.publisher.sent.clear()
    for _ in range(3):
        world.api.answers.append(ErlcOfflineError("server offline", 422, 3002))
    results = [world.poll().result for _ in range(3)]
    assert results == ["offline", "offline", "offline"]
    assert [(c.id, c.fields) for c in world.changes()] == [
        ("1A-12", {"status": "10-7"}),
        ("1A-20", {"status": "10-7"}),
    ]


def test_poll_a_failed_answer_is_no_news_for_the_absence_count(world: World) -> None:
    world.api.will_list(police())
    world.poll()
    world.publisher.sent.clear()
    # One answer without Ann, then a failed poll, then one without her again: two polls in a row
    world.api.will_list()
    world.api.answers.append(ErlcUnavailableError("timeout"))
    world.api.will_list()
    assert [world.poll().result for _ in range(3)] == ["unchanged", "unavailable", "changed"]
    assert world.changes() == [UnitChange(id="1A-12", at=NOW, fields={"status": "10-7"})]
