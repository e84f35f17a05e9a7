"""Sources that go quiet page someone: a watched source silent past its expect_every, an ER:LC server
whose poll has not succeeded for its expect_every. The ingress notes what it hears now and then (never
a stranger's request), the scheduled function looks every tick."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from relay.config.schema import ErlcServerConfig, RelayConfig
from relay.erlc.poller import RosterPollDeps, poll_servers
from relay.erlc.roster import ROSTER_SK, StoredRoster, dump_stored
from relay.errors import ErlcUnavailableError, SourceStateUnavailableError, VerificationError
from relay.ingress.pipeline import InboundRequest, IngressDeps, accept_webhook
from relay.memory import InMemorySourceStateStore, StaticSecrets
from relay.models import roster_key, seen_key
from relay.watch import SEEN_SK, check_sources, note_heard, note_spacing
from relay_devtools.webhooks.signing import sign
from tests.support.clocks import FixedClock
from tests.support.constants import GUILD, MDT, NOW
from tests.support.data import UNITS_BODY, base_config_data, secret_of
from tests.support.logs import captured_logs, log_records

QUIET = "SOURCE QUIET: nothing heard for longer than expect_every"


def config(expect_every: str | None = "2h") -> RelayConfig:
    data = base_config_data()
    if expect_every:
        data["sources"]["cad"]["expect_every"] = expect_every
    return RelayConfig.model_validate(data)


def quiet_lines(logs: Any) -> list[dict[str, Any]]:
    return [r for r in log_records(logs) if r["message"] == QUIET]


def test_watch_a_source_silent_past_expect_every_is_reported_every_tick_until_heard() -> None:
    clock = FixedClock(NOW)
    store = InMemorySourceStateStore(clock)
    sources = config().sources
    written: dict[str, float] = {}
    # Given a source heard now
    note_heard(store, "cad", sources["cad"], clock(), written)
    # When two hours pass, then the allowed staleness of its note (a quarter of two hours, at most 15 min)
    clock.advance(2 * 3600 + note_spacing(7200))
    with captured_logs() as logs:
        assert check_sources(sources, store, clock()) == []
        clock.advance(1)
        assert check_sources(sources, store, clock()) == ["cad"]
        clock.advance(60)
        assert check_sources(sources, store, clock()) == ["cad"]
    # Then each tick past it says so, naming the source and how long
    [first, _] = quiet_lines(logs)
    assert first["level"] == "ERROR" and first["source"] == "cad" and first["quiet_seconds"] == 2 * 3600 + 901
    # And once heard again, nothing
    note_heard(store, "cad", sources["cad"], clock(), written)
    assert check_sources(sources, store, clock()) == []


def test_watch_the_ingress_notes_a_busy_source_now_and_then_not_per_webhook() -> None:
    clock = FixedClock(NOW)
    store = InMemorySourceStateStore(clock)
    source = config().sources["cad"]
    written: dict[str, float] = {}
    puts = []
    real_put = store.put

    def counting_put(*args: Any, **kwargs: Any) -> None:
        puts.append(args[0])
        real_put(*args, **kwargs)

    store.put = counting_put  # type: ignore[method-assign]
    for _ in range(120):  # a webhook a minute for two hours
        note_heard(store, "cad", source, clock(), written)
        clock.advance(60)
    assert len(puts) == 8  # every 15 minutes


def test_watch_a_source_never_heard_starts_its_watch_at_the_first_check() -> None:
    clock = FixedClock(NOW)
    store = InMemorySourceStateStore(clock)
    sources = config().sources
    assert check_sources(sources, store, clock()) == []
    assert store.get(seen_key("cad"), SEEN_SK) == {"at": NOW.timestamp()}
    clock.advance(3 * 3600)
    assert check_sources(sources, store, clock()) == ["cad"]


def test_watch_an_unwatched_source_costs_no_read() -> None:
    class NoStore:
        def get(self, *_: Any) -> Any:
            raise AssertionError("read")

        def put(self, *_: Any, **__: Any) -> None:
            raise AssertionError("written")

    assert check_sources(config(None).sources, NoStore(), NOW) == []  # type: ignore[arg-type]
    note_heard(NoStore(), "cad", config(None).sources["cad"], NOW, {})  # type: ignore[arg-type]


def test_watch_a_store_that_fails_is_logged_and_stops_nothing() -> None:
    class Down:
        def get(self, *_: Any) -> Any:
            raise SourceStateUnavailableError("GetItem seen#cad: ThrottlingException")

        def put(self, *_: Any, **__: Any) -> None:
            raise SourceStateUnavailableError("PutItem seen#cad: ThrottlingException")

    with captured_logs() as logs:
        assert check_sources(config().sources, Down(), NOW) == []  # type: ignore[arg-type]
        note_heard(Down(), "cad", config().sources["cad"], NOW, {})  # type: ignore[arg-type]
    assert [r["message"] for r in log_records(logs)] == [
        "source watch unavailable",
        "source heard, note not written",
    ]


def request(secret: str) -> InboundRequest:
    cfg = config()
    signed = sign(cfg.sources["cad"].signature, UNITS_BODY, secret, now=NOW, delivery_id="d-1")
    return InboundRequest("cad", signed.headers, signed.body, NOW, request_id="r-1")


class Queue:
    def send(self, messages: Any, delay_seconds: int = 0) -> int:
        return len(messages)


def test_watch_only_an_authentic_delivery_keeps_a_source_alive() -> None:
    store = InMemorySourceStateStore(FixedClock(NOW))
    deps = IngressDeps(
        config=config(), secrets=StaticSecrets({"relay/sources/cad": secret_of("cad")}), publisher=Queue()
    )
    deps.source_state = store
    # A stranger's request, refused: no note
    with pytest.raises(VerificationError):
        accept_webhook(request("whsec_" + "A" * 43), deps)
    assert store.get(seen_key("cad"), SEEN_SK) is None
    # The sender's: noted
    accept_webhook(request(secret_of("cad")), deps)
    assert store.get(seen_key("cad"), SEEN_SK) == {"at": NOW.timestamp()}


class FailingApi:
    def make(self, server: ErlcServerConfig, key: str) -> FailingApi:
        return self

    def players(self) -> Any:
        raise ErlcUnavailableError("HTTP 502")


def test_watch_a_server_whose_poll_has_failed_past_its_expect_every_is_reported() -> None:
    clock = FixedClock(NOW)
    store = InMemorySourceStateStore(clock)
    server = ErlcServerConfig(server_key_secret="relay/erlc/main", mdt_id=MDT, guild_id=GUILD)  # 10m
    # Given a last good poll at NOW
    store.put(roster_key("main"), ROSTER_SK, dump_stored(StoredRoster(polled_at=NOW.timestamp())))
    deps = RosterPollDeps(
        store=store,
        publisher=Queue(),  # type: ignore[arg-type]
        secrets=StaticSecrets({"relay/erlc/main": "key"}),
        make_client=FailingApi().make,
        clock=clock,
    )
    with captured_logs() as logs:
        clock.advance(600)
        poll_servers({"main": server}, deps)  # failing for exactly 10 minutes: not yet
        clock.advance(60)
        poll_servers({"main": server}, deps)
    [line] = quiet_lines(logs)
    assert line["source"] == "erlc:main" and line["quiet_seconds"] == 660
    # "off" turns it off
    off = server.model_copy(update={"expect_every": None})
    with captured_logs() as logs:
        poll_servers({"main": off}, deps)
    assert quiet_lines(logs) == []


def test_watch_expect_every_reads_as_a_duration_or_off() -> None:
    assert config("90m").sources["cad"].expect_every == 5400
    data = base_config_data()
    data["erlc"] = {"servers": {"main": {"server_key_secret": "k", "mdt_id": MDT, "guild_id": GUILD}}}
    assert RelayConfig.model_validate(data).erlc.servers["main"].expect_every == 600
    data["erlc"]["servers"]["main"]["expect_every"] = "off"
    assert RelayConfig.model_validate(data).erlc.servers["main"].expect_every is None
    for wrong in ("2x", "30s", "8d", 7200, True):
        data["sources"]["cad"]["expect_every"] = wrong
        try:
            RelayConfig.model_validate(data)
        except ValueError as exc:
            assert "expect_every" in str(exc)
        else:
            raise AssertionError(wrong)


def test_watch_elapsed_check_is_strict_at_the_edge() -> None:
    # The note's staleness allowed is added to expect_every: exactly at the edge is not yet quiet
    clock = FixedClock(NOW)
    store = InMemorySourceStateStore(clock)
    store.put(seen_key("cad"), SEEN_SK, {"at": NOW.timestamp()})
    sources = config("1h").sources
    clock.advance(3600 + note_spacing(3600))
    assert check_sources(sources, store, clock()) == []
    clock.advance(1)
    assert check_sources(sources, store, clock()) == ["cad"]
    assert timedelta(seconds=note_spacing(3600)) == timedelta(minutes=15)
