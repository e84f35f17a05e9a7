"""`relay replay` with calls and panics in what it replays: only unit changes are queued again, whether the
delivery was accepted then or refused then and verified now (docs/operations.md: "an event of its moment
is never sent again"). A SnailyCAD panic refused for a wrong token, the token then fixed: the replay puts
the unit's fields back, it never panics the unit hours later."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from relay.config.schema import RelayConfig
from relay.errors import VerificationError
from relay.ingress.pipeline import InboundRequest, IngressDeps, accept_webhook
from relay.memory import InMemoryArchive, InMemorySourceStateStore, StaticSecrets
from relay.messages import QueueMessage
from relay.models import cache_key, seen_key
from relay.watch import SEEN_SK
from relay_devtools.recovery import replay as recovery
from relay_devtools.recovery.inspect import message_lines
from relay_devtools.recovery.render import replay_lines
from tests.support.clocks import FixedClock
from tests.support.constants import NOW
from tests.support.data import load_event
from tests.support.payloads import examples_config

SECRET = "relay/sources/snailycad"


class Queue:
    def __init__(self) -> None:
        self.sent: list[QueueMessage] = []

    def send(self, messages: Sequence[QueueMessage], delay_seconds: int = 0) -> int:
        self.sent += messages
        return len(messages)


def config_keeping_bodies(name: str) -> RelayConfig:
    config = examples_config()
    source = config.sources[name].model_copy(update={"archive_body": True})
    return config.model_copy(update={"sources": {**config.sources, name: source}})


def deliver(config: RelayConfig, name: str, event: str, token: str, archive: InMemoryArchive) -> None:
    deps = IngressDeps(
        config=config,
        secrets=StaticSecrets({SECRET: "the-right-token"}),
        publisher=Queue(),
        archive=archive,
        source_state=InMemorySourceStateStore(FixedClock()),
    )
    body = json.dumps(load_event(event)).encode()
    accept_webhook(InboundRequest(name, {"content-type": "application/json"}, body, NOW, token=token), deps)


@pytest.mark.parametrize(
    ("name", "event", "calls", "panics"),
    [
        ("snailycad-panic", "snailycad_panic_button.json", 0, 1),
        ("snailycad-911", "snailycad_call_911.json", 1, 0),
    ],
)
def test_replay_of_a_refused_call_or_panic_verified_now_queues_no_call_nor_panic(
    name: str, event: str, calls: int, panics: int
) -> None:
    # Given a source keeping bodies whose call or panic was refused (the sender's token was a wrong one)
    config = config_keeping_bodies(name)
    archive = InMemoryArchive(clock=lambda: NOW)
    with pytest.raises(VerificationError):
        deliver(config, name, event, "a-wrong-token", archive)
    # ... and the token the sender presented is the source's secret now (the operator fixed it)
    records = recovery.select(archive, source=name, since=NOW - timedelta(hours=2), until=NOW)
    fixed = StaticSecrets({SECRET: "a-wrong-token"})
    # When it is replayed
    built = recovery.build(records, config, fixed, InMemorySourceStateStore(FixedClock()), dry_run=False)
    # Then it verifies now, and what is queued holds unit changes only: the call or panic is left out
    assert [record.outcome for record in built.verified] == ["refused"]
    assert all(not message.calls and not message.panics for message in built.messages)
    # ... and the operator is told what was left out
    assert (built.calls_left_out, built.panics_left_out) == (calls, panics)
    assert any("left out" in line for line in replay_lines(built))


def test_replay_of_an_accepted_panic_counts_what_it_leaves_out() -> None:
    # Given a panic accepted (and archived) with its unit's fields
    config = config_keeping_bodies("snailycad-panic")
    archive = InMemoryArchive(clock=lambda: NOW)
    deliver(config, "snailycad-panic", "snailycad_panic_button.json", "the-right-token", archive)
    records = recovery.select(archive, source="snailycad-panic", since=NOW - timedelta(hours=2), until=NOW)
    # When it is replayed
    built = recovery.build(
        records, config, StaticSecrets({}), InMemorySourceStateStore(FixedClock()), dry_run=False
    )
    # Then its unit changes are queued again, its panic is not, and the count says so
    assert [record.outcome for record in built.taken] == ["accepted"]
    assert [len(message.changes) for message in built.messages] == [1]
    assert all(not message.panics for message in built.messages)
    assert (built.calls_left_out, built.panics_left_out) == (0, 1)


def test_inspect_says_what_a_delivery_became_calls_and_panics_too() -> None:
    # Given an accepted SnailyCAD panic (its unit's fields and the panic) and a 911 call, archived
    config = config_keeping_bodies("snailycad-panic")
    archive = InMemoryArchive(clock=lambda: NOW)
    deliver(config, "snailycad-panic", "snailycad_panic_button.json", "the-right-token", archive)
    deliver(config, "snailycad-911", "snailycad_call_911.json", "the-right-token", archive)
    since = NOW - timedelta(hours=2)
    [panicked] = recovery.select(archive, source="snailycad-panic", since=since, until=NOW)
    [called] = recovery.select(archive, source="snailycad-911", since=since, until=NOW)
    # When relay inspect renders what each became / Then the panic and the call are named, not only counted
    panic_lines = message_lines(panicked)
    assert any(line.strip().startswith("panic A1 - 12  at ") for line in panic_lines), panic_lines
    call_lines = message_lines(called)
    assert any(line.strip().startswith("call ") and "location=" in line for line in call_lines), call_lines


def test_a_replay_is_not_the_sender_heard_again() -> None:
    # Given a source watched for quiet (expect_every) whose deliveries were refused an hour ago, and which
    # the ingress heard from just now, once its key was fixed
    config = config_keeping_bodies("snailycad-panic")
    watched = config.sources["snailycad-panic"].model_copy(update={"expect_every": 7200})
    config = config.model_copy(update={"sources": {**config.sources, "snailycad-panic": watched}})
    archive = InMemoryArchive(clock=lambda: NOW)
    with pytest.raises(VerificationError):
        deliver(config, "snailycad-panic", "snailycad_panic_button.json", "a-wrong-token", archive)
    state = InMemorySourceStateStore(FixedClock())
    heard_now = NOW + timedelta(hours=1)
    state.put(seen_key("snailycad-panic"), SEEN_SK, {"at": heard_now.timestamp()})
    records = recovery.select(archive, source="snailycad-panic", since=NOW - timedelta(hours=2), until=NOW)
    # When the refused deliveries are replayed (not a dry run: they verify now and are queued)
    built = recovery.build(records, config, StaticSecrets({SECRET: "a-wrong-token"}), state, dry_run=False)
    assert len(built.verified) == 1
    # Then the source is still heard when the ingress last heard it, not when the replayed one arrived
    # (an hour earlier: the quiet alarm would then fire for a source that sends)
    assert state.get(seen_key("snailycad-panic"), SEEN_SK) == {"at": heard_now.timestamp()}


def sonoran_login(unit_number: str, key: str) -> dict[str, Any]:
    body = load_event("sonoran_unit_login.json")
    body["key"] = key
    body["data"][0]["unit"]["data"]["unitNum"] = unit_number
    return body


def test_a_replayed_login_never_undoes_what_the_relay_learned_since() -> None:
    # Given Sonoran's key changed at Sonoran before the relay's: identId 17's login as A-10 was refused
    # (kept: archive_body), then the relay got the new key and identId 17 logged in again, as B-20
    config = config_keeping_bodies("sonoran")
    archive = InMemoryArchive(clock=lambda: NOW)
    state = InMemorySourceStateStore(FixedClock())

    def send(body: dict[str, Any], secret: str, at: datetime) -> Queue:
        queue = Queue()
        deps = IngressDeps(
            config=config,
            secrets=StaticSecrets({"relay/sources/sonoran": secret}),
            publisher=queue,
            archive=archive,
            source_state=state,
        )
        raw = json.dumps(body).encode()
        accept_webhook(InboundRequest("sonoran", {"content-type": "application/json"}, raw, at), deps)
        return queue

    with pytest.raises(VerificationError):
        send(sonoran_login("A-10", "new-key"), "old-key", NOW)
    send(sonoran_login("B-20", "new-key"), "new-key", NOW + timedelta(minutes=30))
    # When the operator replays the source's refused hour with the key fixed
    records = recovery.select(archive, source="sonoran", since=NOW - timedelta(hours=1), until=NOW)
    built = recovery.build(
        records, config, StaticSecrets({"relay/sources/sonoran": "new-key"}), state, dry_run=False
    )
    assert len(built.verified) == 1
    # Then its unit changes are queued (the consumer dates them), but identId 17 is still B-20:
    # a panic from identId 17 now panics B-20, not the unit it was an hour ago
    panic = {"key": "new-key", "type": "EVENT_UNIT_PANIC", "data": [{"identIds": [17], "isPanic": True}]}
    queued = send(panic, "new-key", NOW + timedelta(minutes=40))
    assert [p.unit for message in queued.sent for p in message.panics] == ["B-20"]


def test_a_replay_teaches_the_relay_a_login_it_never_learned() -> None:
    # Given identId 17's only login was refused (a wrong key), and nothing of it was learned since
    config = config_keeping_bodies("sonoran")
    archive = InMemoryArchive(clock=lambda: NOW)
    state = InMemorySourceStateStore(FixedClock())
    deps = IngressDeps(
        config=config,
        secrets=StaticSecrets({"relay/sources/sonoran": "old-key"}),
        publisher=Queue(),
        archive=archive,
        source_state=state,
    )
    raw = json.dumps(sonoran_login("A-10", "new-key")).encode()
    with pytest.raises(VerificationError):
        accept_webhook(InboundRequest("sonoran", {"content-type": "application/json"}, raw, NOW), deps)
    # When it is replayed with the key fixed
    records = recovery.select(archive, source="sonoran", since=NOW - timedelta(hours=1), until=NOW)
    recovery.build(records, config, StaticSecrets({"relay/sources/sonoran": "new-key"}), state, dry_run=False)
    # Then the relay knows identId 17 as A-10 (its later statuses and panics name the unit)
    assert state.get(cache_key("sonoran"), "ident#17") == {"id": "A-10", "location": "Sandy Shores"}


def test_a_replays_state_guards_only_the_adapters_blind_caches() -> None:
    # Given source state an adapter's cache holds and ER:LC state its adapter reads, merges and writes
    under = InMemorySourceStateStore(FixedClock())
    under.put(cache_key("sonoran"), "ident#17", {"id": "B-20"})
    under.put("roster#main", "held", {"held": ["newer"]})
    state = recovery.ReplayState(under)
    # When a replay writes over both, and deletes both
    state.put(cache_key("sonoran"), "ident#17", {"id": "A-10"})
    state.put("roster#main", "held", {"held": ["newer", "replayed"]})
    # Then the cache keeps what the relay learned since, the merged item takes the merge
    assert under.get(cache_key("sonoran"), "ident#17") == {"id": "B-20"}
    assert under.get("roster#main", "held") == {"held": ["newer", "replayed"]}
    state.delete(cache_key("sonoran"), "ident#17")
    assert under.get(cache_key("sonoran"), "ident#17") == {"id": "B-20"}
    # ... and what the replay itself put in the cache, it may change again (a login, then its logout)
    state.put(cache_key("sonoran"), "ident#18", {"id": "C-30"})
    state.delete(cache_key("sonoran"), "ident#18")
    assert under.get(cache_key("sonoran"), "ident#18") is None
