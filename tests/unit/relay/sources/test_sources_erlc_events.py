"""The `erlc-events` preset: `;` commands become status changes for the player's unit on the roster, a
`;panic` its panic, an emergency call the server's call (relayed as the roster's voice, `erlc:main`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from relay.config.schema import ErlcServerConfig
from relay.erlc.roster import ROSTER_SK, build_roster, dump_roster, parse_players
from relay.memory import InMemorySourceStateStore
from relay.models import CallChange, Panic, UnitChange
from relay.sources import AdapterContext, Signal
from relay.sources.registry import adapter_kind
from tests.support.clocks import FixedClock
from tests.support.constants import GUILD, MDT, NOW
from tests.support.data import load_event
from tests.support.logs import captured_logs, log_records

TYPED_AT = datetime(2026, 11, 28, 11, 59, 50, tzinfo=UTC)
BUBBLETON = "B_Bubbleton:1234567890"  # on the roster as unit 1A-12 (Police)


@pytest.fixture
def store() -> InMemorySourceStateStore:
    # Given the roster the poller stored from the sample v2 server
    store = InMemorySourceStateStore(clock=FixedClock())
    server = ErlcServerConfig(server_key_secret="relay/erlc/main", mdt_id=MDT, guild_id=GUILD)
    roster = build_roster(parse_players(load_event("erlc_v2_server.json")), server)
    store.put("roster#main", ROSTER_SK, dump_roster(roster))
    return store


def run(
    store: InMemorySourceStateStore,
    payload: Any,
    options: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    context: AdapterContext | None = None,
) -> list[Signal]:
    kind = adapter_kind("erlc-events")
    adapter = kind.build(kind.options_model.model_validate({"server": "main", **(options or {})}))
    context = context or AdapterContext(source="erlc", received_at=NOW, headers=headers or {}, state=store)
    return adapter.normalise(payload, context)


def command(text: str, player: Any = BUBBLETON) -> dict[str, Any]:
    return {"Type": "CustomCommand", "Timestamp": 1795867190, "Data": {"Player": player, "Command": text}}


def test_erlc_events_status_command_changes_the_players_unit(store: InMemorySourceStateStore) -> None:
    # Given the sample `;status 10-6` event, when it is normalised
    changes = run(store, load_event("erlc_event_command.json"))
    # Then the player's unit (found on the roster) gets that status, at the event's time
    assert changes == [UnitChange(id="1A-12", at=TYPED_AT, fields={"status": "10-6"})]


@pytest.mark.parametrize(
    ("text", "status"),
    [
        (";10-8", "10-8"),
        (";10-97", "10-97"),
        (";s 10-23", "10-23"),
        (" ;STATUS Out of service", "Out of service"),
    ],
)
def test_erlc_events_command_forms(store: InMemorySourceStateStore, text: str, status: str) -> None:
    assert run(store, command(text)) == [UnitChange(id="1A-12", at=TYPED_AT, fields={"status": status})]


def test_erlc_events_aliases_value_maps_and_allowed_statuses(store: InMemorySourceStateStore) -> None:
    options = {
        "aliases": {"avail": "10-8"},
        "value_maps": {"status": {"busy": "10-6"}},
        "allowed_statuses": ["10-8", "10-6"],
    }
    assert run(store, command(";avail"), options)[0].fields == {"status": "10-8"}
    assert run(store, command(";status busy"), options)[0].fields == {"status": "10-6"}
    # A status outside the allowed list is ignored, not written onto the MDT
    assert run(store, command(";status anything"), options) == []


@pytest.mark.parametrize(
    "player",
    [
        BUBBLETON,
        1234567890,
        "1234567890",
        {"Name": "B_Bubbleton", "UserId": 1234567890},
        {"Player": BUBBLETON},
    ],
)
def test_erlc_events_player_shapes(store: InMemorySourceStateStore, player: Any) -> None:
    assert run(store, command(";10-8", player))[0].id == "1A-12"


def test_erlc_events_top_level_fields_and_header_time(store: InMemorySourceStateStore) -> None:
    # Given a flat event without a timestamp of its own
    payload = {"Command": ";10-8", "PlayerId": 2345678901}
    # Then the signed timestamp header gives the event time
    changes = run(store, payload, headers={"x-signature-timestamp": "1795867190"})
    assert changes == [UnitChange(id="S-31", at=TYPED_AT, fields={"status": "10-8"})]


@pytest.mark.parametrize(
    "payload",
    [
        command(";10-8", "civ:with:colons:3456789012"),  # a civilian: not a unit
        command(";10-8", "Someone:999"),  # not on the server roster
        command(";ban Someone"),  # another integration's command
        command(";status"),  # no status given
        command("hello there"),  # not a command
        {"Type": "PlayerJoined", "Data": {"Player": BUBBLETON}},  # a type this adapter does not handle
        {},  # what a validation probe may send
    ],
)
def test_erlc_events_that_change_no_unit_are_accepted_and_skipped(
    store: InMemorySourceStateStore, payload: dict[str, Any]
) -> None:
    assert run(store, payload) == []


def test_erlc_events_without_a_roster_change_nothing() -> None:
    assert run(InMemorySourceStateStore(), command(";10-8")) == []


# PRC's docs ask for a 2xx on every validly signed request (https://apidocs.erlc.gg/event-webhooks), and
# the game may drop a URL that fails: an authentic event the relay cannot act on is acknowledged with no
# change, and the reason is logged (with the body's keys, so the real shape can be reported).
@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (
            {"Hello": "world"},
            "body: not an ER:LC event: no Type, no command text (Command/Message/Content/Text/ChatMessage) "
            "and no emergency call",
        ),
        # The community wrapper's own test events: commands with no player at all
        ({"Message": ";ping one"}, "Message: a command without a player (looked for Player, Sender, Author"),
        (
            {"Type": "CustomCommand", "Message": ";10-8"},
            "Message: a command without a player (looked for Player, Sender, Author",
        ),
        ({"Command": [";10-8"], "Player": BUBBLETON}, "Command: expected text, got list"),
        (command(";10-8", "B_Bubbleton"), "Player: expected 'Name:UserId' or a user id, got 'B_Bubbleton'"),
        (command(";10-8", ["B", 1]), "Player: expected a player, got list"),
        (command(";10-8", {"Name": "B"}), "Player: an object without a player id"),
        (
            {"Command": ";10-8", "Player": BUBBLETON, "Timestamp": "tomorrow"},
            "Timestamp: 'tomorrow' is not an ISO 8601 time",
        ),
        (command(";status " + "x" * 300), "command.status: String should have at most 256 characters"),
    ],
)
def test_erlc_events_the_relay_cannot_act_on_are_acknowledged_and_logged(
    store: InMemorySourceStateStore, payload: dict[str, Any], reason: str
) -> None:
    # When an authentic event the adapter cannot act on is normalised
    with captured_logs() as logs:
        changes = run(store, payload)
    # Then it changes nothing (a 2xx, not a 422), and one warning says why and what the body held
    assert changes == []
    [line] = [r for r in log_records(logs) if r["level"] == "WARNING"]
    assert line["message"] == "erlc event not acted on, acknowledged"
    assert line["reason"].startswith(reason), line["reason"]
    assert line["keys"] == sorted(payload)[:20]


@pytest.mark.parametrize("key", ["ChatMessage", "chatMessage"])
def test_erlc_events_the_text_under_chat_message_is_read(store: InMemorySourceStateStore, key: str) -> None:
    # Given a command under ChatMessage, which PRC's community wrapper reads (Fortune1243/erlc-api
    # src/erlc_api/webhooks.py) and the relay did not (the command was dropped)
    payload = {"Type": "ChatMessage", "Timestamp": 1795867190, "Data": {"Player": BUBBLETON, key: ";10-97"}}
    # Then it is the player's status
    assert run(store, payload) == [UnitChange(id="1A-12", at=TYPED_AT, fields={"status": "10-97"})]


# ------------------------------------------------------------------ emergencies


def test_erlc_events_an_emergency_call_is_the_servers_call_relayed_as_the_roster(
    store: InMemorySourceStateStore,
) -> None:
    # Given the sample emergency-call event (call 42, started 1795867185)
    context = AdapterContext(source="erlc", received_at=NOW, state=store)
    # When it is normalised: nothing of the request's own, the call relayed under the roster's voice
    assert run(store, load_event("erlc_event_emergency_call.json"), context=context) == []
    [relayed] = context.notes.relayed
    assert relayed.source == "erlc:main" and relayed.destination is None
    [call] = relayed.calls
    assert call == CallChange(
        key="42-1795867185",
        at=TYPED_AT,
        fields={
            "description": "Shots fired near the bank",
            "location": "Springfield Bank",
            "call_type": "Police",
            "units_assigned": [],
        },
        opens=True,
        created_by="998877665",
    )
    assert context.notes.label == "main: emergency call 42 (Police) -> call 42-1795867185"
    # And what it sent is kept for the poll (its first sight of the call, or the call's close)
    reported = store.get("roster#main", "sent-calls")["calls"]["42-1795867185"]
    assert set(reported["sent"]) == {"call_type", "description", "location", "units_assigned"}
    assert (reported["number"], reported["started"], reported["at"]) == (42, 1795867185, NOW.timestamp())


def test_erlc_events_a_call_without_started_at_is_matched_to_the_call_the_poll_knows(
    store: InMemorySourceStateStore,
) -> None:
    roster = store.get("roster#main", ROSTER_SK)
    store.put(
        "roster#main", ROSTER_SK, roster | {"calls": {"42-1795867000": {"number": 42, "seen": 1795867000}}}
    )
    event = {
        "Type": "EmergencyCall",
        "Data": {"Team": "Fire", "CallNumber": 42, "Players": ["B_Bubbleton:1234567890"]},
    }
    context = AdapterContext(source="erlc", received_at=NOW, state=store)
    run(store, event, context=context)
    [call] = context.notes.relayed[0].calls
    assert (call.key, call.fields["units_assigned"]) == ("42-1795867000", ["1A-12"])


def test_erlc_events_a_call_without_started_at_the_poll_does_not_know_is_left_to_it(
    store: InMemorySourceStateStore,
) -> None:
    context = AdapterContext(source="erlc", received_at=NOW, state=store)
    run(
        store,
        {"Type": "EmergencyCall", "Data": {"Team": "Fire", "CallNumber": 43, "Caller": 1}},
        context=context,
    )
    assert context.notes.relayed == []
    assert context.notes.label == "main: emergency call 43 (no StartedAt: the poll brings it)"


def test_erlc_events_panic_is_the_units_panic_keyed_by_the_press(store: InMemorySourceStateStore) -> None:
    [panic] = run(store, command(";panic"))
    assert panic == Panic(unit="1A-12", at=TYPED_AT, key="1234567890@1795867190", address=None)
    # A panic command can be renamed, or turned off (then ;10-33 is a status again)
    assert run(store, command(";sos"), options={"panic_commands": ["sos"]})[0] == panic
    assert run(store, command(";10-33"), options={"panic_commands": []}) == [
        UnitChange(id="1A-12", at=TYPED_AT, fields={"status": "10-33"})
    ]
