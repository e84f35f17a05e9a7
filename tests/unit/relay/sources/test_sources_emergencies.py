"""Senders' emergencies become calls and panics (issue 18, item 4): Sonoran's EVENT_911, EVENT_REMOVE_911 and
EVENT_UNIT_PANIC, SnailyCAD's CALL_911 and PANIC_BUTTON raw webhooks, and any JSON through the mapping
adapter; with the inputs nobody listed: a panic for a unit nobody logged in, a call without an id, a
flood of call ids, expressions that give the wrong type, a panic source that is sent a unit status."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from relay.config.loader import parse_config
from relay.errors import ConfigError, InvalidPayloadError
from relay.memory import InMemorySourceStateStore
from relay.models import CallChange, Panic, UnitChange
from relay.sources import AdapterContext, Signal
from relay.sources.registry import KINDS, adapter_kind
from relay_devtools.webhooks.dry_run import load_roster_file
from tests.support.clocks import FixedClock
from tests.support.constants import EVENTS, NOW
from tests.support.data import base_config_data, load_event
from tests.support.logs import captured_logs, log_records
from tests.support.payloads import examples_config, map_body


def run(
    kind_name: str, payload: Any, options: dict[str, Any] | None = None, store: Any = None
) -> list[Signal]:
    kind = adapter_kind(kind_name)
    context = AdapterContext(
        source=kind_name, received_at=NOW, state=store or InMemorySourceStateStore(FixedClock())
    )
    return list(kind.build(kind.options_model.model_validate(options or {})).normalise(payload, context))


# ------------------------------------------------------------------ Sonoran


def test_sonoran_911_is_a_call_that_may_create_and_its_removal_one_that_only_closes() -> None:
    [call] = run("sonoran", load_event("sonoran_event_911.json"))
    assert call == CallChange(
        key="1234",
        at=NOW,
        fields={
            "location": "1234 E Hawick Ave",
            "description": "Two cars on fire, one person trapped",
            "call_type": "911",
        },
        opens=True,
        created_by="John Doe",
    )
    [closed] = run("sonoran", load_event("sonoran_remove_911.json"))
    assert closed == CallChange(key="1234", at=NOW, fields={"status": "closed"}, opens=False)


def test_sonoran_911_options_set_the_constants_and_the_emergency_priority() -> None:
    options = {
        "call_constants": {"classification": "911", "call_type": "Emergency"},
        "emergency_priority": "high",
    }
    [call] = run("sonoran", load_event("sonoran_event_911.json"), options)
    assert isinstance(call, CallChange)
    assert call.fields["priority"] == "high" and call.fields["call_type"] == "Emergency"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ([{"callId": 1}], "data[0].call: missing, expected the 911 call"),
        ([{"call": {"caller": "x"}}], "data[0].call.callId: expected a call id"),
        ([{"call": {"callId": True}}], "data[0].call.callId: expected a call id"),
        ([{"call": {"callId": 1, "location": {"x": 1}}}], "data[0].call.location: expected text or a number"),
        ([{"call": {"callId": "\u200b"}}], "data[0].call: key: holds format character"),
        ([{"call": {"callId": n}} for n in range(101)], "data: at most 100 calls per request"),
    ],
)
def test_sonoran_911_bodies_nobody_listed_are_a_precise_422(data: Any, error: str) -> None:
    with pytest.raises(InvalidPayloadError) as caught:
        run("sonoran", {"type": "EVENT_911", "data": data})
    assert caught.value.message.startswith(error), caught.value.message


def test_sonoran_911_in_the_resources_object_form_is_read_too() -> None:
    payload = {"type": "EVENT_911", "data": {"call": {"callId": "77", "location": "Pier"}}}
    [call] = run("sonoran", payload)
    assert isinstance(call, CallChange) and call.key == "77" and call.fields["location"] == "Pier"


def test_sonoran_panic_names_the_logged_in_unit_at_its_last_location() -> None:
    store = InMemorySourceStateStore(FixedClock())
    run("sonoran", load_event("sonoran_unit_login.json"), store=store)
    assert store.get("cache#sonoran", "ident#17") == {"id": "A-10", "location": "Sandy Shores"}
    [panic] = run("sonoran", load_event("sonoran_unit_panic.json"), store=store)
    assert panic == Panic(unit="A-10", at=NOW, address="Sandy Shores")


def test_sonoran_panic_of_a_unit_nobody_logged_in_is_never_dropped_silently() -> None:
    with captured_logs() as text:
        assert (
            run("sonoran", {"type": "EVENT_UNIT_PANIC", "data": [{"identIds": [5], "isPanic": True}]}) == []
        )
    [line] = [r for r in log_records(text) if r["message"] == "EMERGENCY NOT DELIVERED"]
    assert line["idents"] == ["5"] and "log in" in line["detail"]


def test_sonoran_panic_cleared_is_nothing_unless_a_status_is_set() -> None:
    store = InMemorySourceStateStore(FixedClock())
    run("sonoran", load_event("sonoran_unit_login.json"), store=store)
    cleared = {"type": "EVENT_UNIT_PANIC", "data": {"identIds": [17], "isPanic": False}}
    assert run("sonoran", cleared, store=store) == []
    assert run("sonoran", cleared, {"panic_cleared_status": "10-8"}, store=store) == [
        UnitChange(id="A-10", at=NOW, fields={"status": "10-8"})
    ]


@pytest.mark.parametrize(
    ("item", "error"),
    [
        ({"identIds": [17]}, "data[0].isPanic: expected true or false"),
        ({"identIds": [17], "isPanic": "yes"}, "data[0].isPanic: expected true or false"),
        ({"identIds": [{"id": 17}], "isPanic": True}, "data[0].identIds[0]: expected a unit identId"),
        ({"identIds": list(range(101)), "isPanic": True}, "data: more than 100 identIds in one request"),
    ],
)
def test_sonoran_panic_bodies_nobody_listed_are_a_precise_422(item: dict[str, Any], error: str) -> None:
    with pytest.raises(InvalidPayloadError) as caught:
        run("sonoran", {"type": "EVENT_UNIT_PANIC", "data": [item]})
    assert caught.value.message.startswith(error), caught.value.message


# ------------------------------------------------------------------ SnailyCAD


def test_snailycad_call_911_is_a_call_with_its_assigned_units_callsigns() -> None:
    [call] = run("snailycad", load_event("snailycad_call_911.json"), {"raw_webhook": "CALL_911"})
    assert isinstance(call, CallChange)
    assert call.key == "clv0call00000000000000001" and call.fields["units_assigned"] == ["A1 - 12"]
    assert call.created_by == "Jane Citizen" and call.opens


def test_snailycad_an_ended_call_is_created_closed_and_options_override_the_defaults() -> None:
    body = copy.deepcopy(load_event("snailycad_call_911.json")) | {"ended": True, "postal": None}
    options = {
        "raw_webhook": "CALL_911",
        "calls": {"fields": {"call_type": "'911'"}, "constants": {"priority": "P1"}},
    }
    [call] = run("snailycad", body, options)
    assert isinstance(call, CallChange)
    assert call.fields["status"] == "closed" and call.fields["location"] == "Route 68, Harmony"
    assert call.fields["call_type"] == "911" and call.fields["priority"] == "P1"
    assert call.fields["units_assigned"] == ["A1 - 12"]  # the other defaults stay


def test_snailycad_a_call_without_an_id_is_a_precise_422() -> None:
    with pytest.raises(InvalidPayloadError) as caught:
        run("snailycad", {"caseNumber": 4}, {"raw_webhook": "CALL_911"})
    assert caught.value.message == "calls[0].key: no call key (the expression gave nothing)"


def test_snailycad_panic_button_is_a_panic_and_the_panic_buttons_own_record_its_status() -> None:
    after = run("snailycad", load_event("snailycad_panic_button.json"), {"raw_webhook": "PANIC_BUTTON"})
    assert [type(s).__name__ for s in after] == ["Panic", "UnitChange"]
    before = copy.deepcopy(load_event("snailycad_panic_button.json"))
    before["status"]["shouldDo"] = "SET_STATUS"
    assert [type(s).__name__ for s in run("snailycad", before, {"raw_webhook": "PANIC_BUTTON"})] == ["Panic"]


# ------------------------------------------------------------------ the mapping adapter


BOARD = {
    "calls": {
        "items": "incidents",
        "key": "no",
        "at": "at",
        "opens": "state != 'closed'",
        "closed": "state == 'closed'",
        "created_by": "by",
        "fields": {"location": "where", "units_assigned": "units"},
        "constants": {"call_type": "Bot"},
    },
    "panics": {
        "items": "alarms",
        "unit": "callsign",
        "key": "id",
        "address": "where",
        "uppercase_unit": True,
    },
}


def test_mapping_maps_any_json_to_calls_and_panics_without_units() -> None:
    payload = {
        "incidents": [
            {
                "no": 7,
                "at": 1764331200,
                "state": "open",
                "by": "Ann",
                "where": "Pier",
                "units": ["A-1", "B-2"],
            },
            {"no": 8, "state": "closed"},
        ],
        "alarms": [{"callsign": "adam-12", "id": "p1", "where": "Dock"}],
    }
    signals = run("mapping", payload, BOARD)
    assert signals[0] == Panic(unit="ADAM-12", at=NOW, key="p1", address="Dock")
    assert isinstance(signals[1], CallChange) and signals[1].fields == {
        "location": "Pier",
        "units_assigned": ["A-1", "B-2"],
        "call_type": "Bot",
    }
    assert signals[1].opens and signals[1].created_by == "Ann"
    assert signals[2] == CallChange(
        key="8", at=NOW, fields={"call_type": "Bot", "status": "closed"}, opens=False
    )


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"incidents": [{"no": None}]}, "calls[0].key: no call key"),
        ({"incidents": [{"no": 1, "where": ["a"]}]}, "calls[0].location: expected text or a number"),
        (
            {"incidents": [{"no": 1, "units": [{"id": 1}]}]},
            "calls[0].units_assigned[0]: expected text or a number",
        ),
        (
            {"incidents": [{"no": 1, "units": ["\u0000"]}]},
            "calls[0].units_assigned[0]: holds control character",
        ),
        ({"alarms": [{"callsign": ""}]}, "panics[0].unit: no unit id"),
        ({"alarms": [{"callsign": "A" * 65}]}, "panics[0]: unit: longer than 64 characters"),
    ],
)
def test_mapping_emergency_values_nobody_listed_are_a_precise_422(
    payload: dict[str, Any], error: str
) -> None:
    with pytest.raises(InvalidPayloadError) as caught:
        run("mapping", payload, BOARD)
    assert caught.value.message.startswith(error), caught.value.message


def mapping_config_error(options: dict[str, Any]) -> str:
    data = base_config_data()
    data["sources"]["hook"] = {**data["sources"]["cad"], "adapter": "mapping", "options": options}
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return str(caught.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "nothing to map: give `fields` (with an `id`) for units, or `calls`, or `panics`"),
        ({"calls": {"fields": {"location": "x"}}}, "sources.hook.options.calls.key: Field required"),
        ({"calls": {"key": "id", "fields": {"colour": "x"}}}, "sources.hook.options.calls.fields.colour"),
        ({"calls": {"key": "shout(id)"}}, "unknown function shout()"),
        ({"panics": {"unit": "a ==", "key": "id"}}, "invalid JMESPath 'a =='"),
    ],
)
def test_mapping_emergency_rules_are_checked_when_relay_toml_loads(
    options: dict[str, Any], message: str
) -> None:
    assert message in mapping_config_error(options)


# ------------------------------------------------------------------ every sender's emergency samples


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_emergency_sample_becomes_calls_or_panics_with_its_example_source(kind: str) -> None:
    config = examples_config()
    store = InMemorySourceStateStore(FixedClock())
    for server, roster in adapter_kind(kind).sender.sample_rosters.items():  # ER:LC's panic names a unit
        load_roster_file(config, store, f"{server}={EVENTS / roster}")
    for sample, source in adapter_kind(kind).sender.emergency_samples:
        assert config.sources[source].adapter == kind
        body = (EVENTS / sample).read_bytes()
        signals = map_body(config, source, body, store, {})
        assert signals, sample
        if "login" not in sample:
            assert any(isinstance(s, CallChange | Panic) for s in signals), sample
