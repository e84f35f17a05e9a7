"""The `sonoran` preset: login names the unit and is remembered; status and logout use that memory."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from relay.errors import InvalidPayloadError, StateNotWiredError
from relay.memory import InMemorySourceStateStore
from relay.models import UnitChange
from relay.sources import AdapterContext
from relay.sources.registry import adapter_kind
from tests.support.clocks import FixedClock
from tests.support.constants import NOW
from tests.support.data import load_event


@pytest.fixture
def store() -> InMemorySourceStateStore:
    return InMemorySourceStateStore(clock=FixedClock())


def run(
    store: InMemorySourceStateStore, payload: Any, options: dict[str, Any] | None = None
) -> list[UnitChange]:
    kind = adapter_kind("sonoran")
    context = AdapterContext(source="sonoran", received_at=NOW, state=store)
    return kind.build(kind.options_model.model_validate(options or {})).normalise(payload, context)


def test_sonoran_login_becomes_the_full_unit_and_is_remembered(store: InMemorySourceStateStore) -> None:
    # Given a unit logging in with Sonoran status 2 (AVAILABLE)
    changes = run(store, load_event("sonoran_unit_login.json"))
    # Then the unit arrives whole with the status in 10-codes
    assert changes == [
        UnitChange(
            id="A-10",
            at=NOW,
            fields={"officer_name": "B. Bubbleton", "department": "MCSO", "rank": "CPT", "status": "10-8"},
        )
    ]
    # And its identId is remembered for this source
    assert store.get("cache#sonoran", "ident#17") == {"id": "A-10"}


def test_sonoran_status_and_logout_find_the_unit_by_ident(store: InMemorySourceStateStore) -> None:
    # Given a unit that logged in
    run(store, load_event("sonoran_unit_login.json"))
    # When its status changes to 3 (ENROUTE), then it logs out
    status = run(store, load_event("sonoran_unit_status.json"))
    logout = run(store, load_event("sonoran_unit_logout.json"))
    # Then each is a status change for that unit, and the memory is dropped at logout
    assert status == [UnitChange(id="A-10", at=NOW, fields={"status": "10-76"})]
    assert logout == [UnitChange(id="A-10", at=NOW, fields={"status": "10-7"})]
    assert store.get("cache#sonoran", "ident#17") is None


def test_sonoran_ident_ids_may_be_a_list(store: InMemorySourceStateStore) -> None:
    run(store, load_event("sonoran_unit_login.json"))
    payload = {"type": "EVENT_UNIT_STATUS", "data": [{"identIds": [17, 99], "status": 1}]}
    # identId 99 never logged in: it names no unit and is skipped
    assert run(store, payload) == [UnitChange(id="A-10", at=NOW, fields={"status": "10-6"})]


def test_sonoran_status_table_is_configurable(store: InMemorySourceStateStore) -> None:
    options = {"value_maps": {"status": {"3": "Enroute", "7": "10-23"}}, "logout_status": "OFF"}
    run(store, load_event("sonoran_unit_login.json"), options)
    assert run(store, load_event("sonoran_unit_status.json"), options)[0].fields == {"status": "Enroute"}
    seven = {"type": "EVENT_UNIT_STATUS", "data": [{"identIds": 17, "status": 7}]}
    assert run(store, seven, options)[0].fields == {"status": "10-23"}
    # The untouched defaults still apply
    two = {"type": "EVENT_UNIT_STATUS", "data": [{"identIds": 17, "status": 2}]}
    assert run(store, two, options)[0].fields == {"status": "10-8"}
    assert run(store, load_event("sonoran_unit_logout.json"), options)[0].fields == {"status": "OFF"}


def test_sonoran_other_events_map_to_nothing(store: InMemorySourceStateStore) -> None:
    payload = {"type": "EVENT_911", "data": [{"call": {"callId": 1, "description": "fire"}}]}
    assert run(store, payload) == []


def test_sonoran_needs_the_state_store() -> None:
    kind = adapter_kind("sonoran")
    adapter = kind.build(kind.options_model.model_validate({}))
    with pytest.raises(StateNotWiredError):
        adapter.normalise(load_event("sonoran_unit_login.json"), AdapterContext(source="s", received_at=NOW))


@pytest.mark.parametrize(
    ("event", "change", "message"),
    [
        (
            "sonoran_unit_status.json",
            lambda p: p.pop("type"),
            "type: missing, expected a Sonoran push event type",
        ),
        ("sonoran_unit_status.json", lambda p: p.pop("data"), "data: missing"),
        ("sonoran_unit_status.json", lambda p: p.update(data="17"), "data: expected a list of event objects"),
        ("sonoran_unit_status.json", lambda p: p.update(data=[17]), "data[0]: expected an object"),
        ("sonoran_unit_status.json", lambda p: p["data"][0].pop("status"), "data[0].status: missing"),
        (
            "sonoran_unit_status.json",
            lambda p: p["data"][0].update(identIds=[{"id": 17}]),
            "data[0].identIds: expected a unit identId (a number), got {'id': 17}",
        ),
        (
            "sonoran_unit_status.json",
            lambda p: p["data"][0].update(status=9),
            "data[0].status: '9' is not in value_maps.status (known: '0', '1', '2', '3', '4')",
        ),
        (
            "sonoran_unit_login.json",
            lambda p: p["data"][0].pop("unit"),
            "data[0].unit.data: missing, expected the logged-in unit",
        ),
        (
            "sonoran_unit_login.json",
            lambda p: p["data"][0]["unit"]["data"].pop("unitNum"),
            "data[0].unit.data.id: no unit id (the expression gave nothing)",
        ),
    ],
)
def test_sonoran_malformed_events_get_a_precise_422(
    store: InMemorySourceStateStore, event: str, change: Any, message: str
) -> None:
    run(store, load_event("sonoran_unit_login.json"))
    payload = copy.deepcopy(load_event(event))
    change(payload)
    with pytest.raises(InvalidPayloadError) as caught:
        run(store, payload)
    assert caught.value.message == message
