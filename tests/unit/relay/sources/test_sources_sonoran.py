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
from tests.support.adapters import CountingStateStore
from tests.support.clocks import FixedClock
from tests.support.constants import NOW
from tests.support.data import load_event
from tests.support.logs import captured_logs, log_records


@pytest.fixture
def store() -> InMemorySourceStateStore:
    return InMemorySourceStateStore(clock=FixedClock())


def run(store: Any, payload: Any, options: dict[str, Any] | None = None) -> list[UnitChange]:
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
    assert store.get("cache#sonoran", "ident#17") == {"id": "A-10", "location": "Sandy Shores"}


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


# The newer form: whole units under data.units (Sonoran-Software/SonoranCADFiveM sonorancad/core/httpd.lua,
# handleUnitUpdate; the websocket push-events page of Sonoran-Software/SonoranCAD-Documentation).
def units_event(kind: str, *units: Any) -> dict[str, Any]:
    return {"key": "k", "type": kind, "data": {"units": list(units)}}


def whole_unit(ident: Any = 17, status: Any = 3, unit_num: str = "A-10") -> dict[str, Any]:
    unit: dict[str, Any] = copy.deepcopy(load_event("sonoran_unit_login.json")["data"][0]["unit"])
    unit.update(id=ident, status=status)
    unit["data"]["unitNum"] = unit_num
    return unit


@pytest.mark.parametrize("kind", ["EVENT_UNIT_STATUS", "EVENT_UNIT_UPDATE"])
def test_sonoran_the_data_units_form_names_whole_units_without_a_login(
    store: InMemorySourceStateStore, kind: str
) -> None:
    # Given no login was ever seen, and Sonoran's data.units form (a 422 / ignored before)
    payload = units_event(kind, whole_unit(17, 3), whole_unit(18, 2, "A-11"))
    # When it is normalised / Then each unit arrives whole, and its identId is remembered
    fields = {"officer_name": "B. Bubbleton", "department": "MCSO", "rank": "CPT"}
    assert run(store, payload) == [
        UnitChange(id="A-10", at=NOW, fields={**fields, "status": "10-76"}),
        UnitChange(id="A-11", at=NOW, fields={**fields, "status": "10-8"}),
    ]
    assert store.get("cache#sonoran", "ident#18") == {"id": "A-11", "location": "Sandy Shores"}
    # And a later identId-form event finds the unit
    assert run(store, load_event("sonoran_unit_logout.json")) == [
        UnitChange(id="A-10", at=NOW, fields={"status": "10-7"})
    ]


def test_sonoran_the_data_units_form_as_a_list_of_events_is_read_too(store: InMemorySourceStateStore) -> None:
    payload = {"type": "EVENT_UNIT_STATUS", "data": [{"units": [whole_unit(17, 4)]}]}
    assert [c.fields["status"] for c in run(store, payload)] == ["10-97"]


def test_sonoran_an_empty_data_units_is_acknowledged(store: InMemorySourceStateStore) -> None:
    # The websocket push-events page's own example: {"units": []}
    assert run(store, units_event("EVENT_UNIT_STATUS")) == []


def test_sonoran_a_data_units_element_without_its_unit_number_uses_the_identid_memory(
    store: InMemorySourceStateStore,
) -> None:
    run(store, load_event("sonoran_unit_login.json"))
    payload = units_event("EVENT_UNIT_STATUS", {"id": 17, "status": 1}, {"id": 99, "status": 1})
    # identId 99 never logged in: skipped, as in the identId form
    assert run(store, payload) == [UnitChange(id="A-10", at=NOW, fields={"status": "10-6"})]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"type": "EVENT_UNIT_STATUS", "data": {"units": {"id": 17}}},
            "data.units: expected a list of units",
        ),
        (units_event("EVENT_UNIT_STATUS", 17), "data.units[0]: expected an object"),
        (
            units_event("EVENT_UNIT_STATUS", {"id": 17}),
            "data.units[0]: neither data.unitNum nor status, nothing to change",
        ),
        (
            units_event("EVENT_UNIT_UPDATE", whole_unit(17, 9)),
            "data.units[0].status: '9' is not in value_maps.status",
        ),
        (units_event("EVENT_UNIT_UPDATE", whole_unit("7" * 70)), "data.units[0].id: identId longer than 64"),
        (
            {"type": "EVENT_UNIT_UPDATE", "data": [{"identIds": 17, "status": 2}]},
            "data.units: missing, expected the updated units",
        ),
    ],
)
def test_sonoran_a_malformed_data_units_event_gets_a_precise_422(
    store: InMemorySourceStateStore, payload: dict[str, Any], message: str
) -> None:
    assert refused(store, payload).startswith(message)


def test_sonoran_the_data_units_form_is_held_to_max_units_before_any_state_is_touched(
    store: InMemorySourceStateStore,
) -> None:
    counting = CountingStateStore(store)
    payload = units_event("EVENT_UNIT_STATUS", *[whole_unit(n, 2, f"U-{n}") for n in range(3)])
    assert (
        refused(counting, payload, {"max_units": 2}) == "data.units: at most 2 units per request (max_units)"
    )
    assert counting.total == 0


def test_sonoran_a_login_at_unavailable_does_not_read_as_logged_out(store: InMemorySourceStateStore) -> None:
    # Given Sonoran's own login example: status 0 (UNAVAILABLE), the status a unit logs in with
    login = copy.deepcopy(load_event("sonoran_unit_login.json"))
    login["data"][0]["unit"]["status"] = 0
    [change] = run(store, login)
    # Then the unit is on duty but not available (10-6), not the off-duty code its logout will write
    logout_status = adapter_kind("sonoran").options_model.model_validate({}).logout_status  # type: ignore[attr-defined]
    assert change.fields["status"] == "10-6" != logout_status
    # And Sonoran's v2 OFFLINE (100) is the off-duty code
    offline = {"type": "EVENT_UNIT_STATUS", "data": [{"identIds": 17, "status": 100}]}
    assert run(store, offline)[0].fields == {"status": "10-7"}


def test_sonoran_the_fivem_resource_data_object_form_of_a_login(store: InMemorySourceStateStore) -> None:
    # httpd.lua reads body.data.unit: data is one object there, a list in the docs
    login = load_event("sonoran_unit_login.json")
    assert run(store, {**login, "data": login["data"][0]})[0].id == "A-10"


def test_sonoran_other_events_map_to_nothing(store: InMemorySourceStateStore) -> None:
    payload = {"type": "EVENT_DISPATCH_NEW", "data": [{"dispatch": {"callId": 1, "description": "fire"}}]}
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
            "data[0].identIds[0]: expected a unit identId (a number), got {'id': 17}",
        ),
        (
            "sonoran_unit_status.json",
            lambda p: p["data"][0].update(status=9),
            "data[0].status: '9' is not in value_maps.status (known: '0', '1', '2', '3', '4', '100')",
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


def refused(store: Any, payload: Any, options: dict[str, Any] | None = None) -> str:
    with pytest.raises(InvalidPayloadError) as caught:
        run(store, payload, options)
    return caught.value.message


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"type": "EVENT_UNIT_STATUS", "data": [{"identIds": ["1" * 1100], "status": 2}]},
            "data[0].identIds[0]: identId longer than 64 characters",
        ),
        (
            {"type": "EVENT_UNIT_LOGOUT", "data": [{"identId": "17\u200b"}]},
            "data[0].identId: identId holds format character U+200B at position 2",
        ),
        (
            {"type": "EVENT_UNIT_STATUS", "data": [{"identIds": [17, " "], "status": 2}]},
            "data[0].identIds[1]: identId empty once surrounding blanks are trimmed",
        ),
    ],
)
def test_sonoran_an_identid_no_cache_key_can_hold_is_a_422_before_any_state_is_touched(
    store: InMemorySourceStateStore, payload: dict[str, Any], message: str
) -> None:
    # Given an identId of 1,100 characters (over DynamoDB's 1,024-byte key: it was a 503 forever), or unusable
    counting = CountingStateStore(store)
    # Then it is a 422 naming it, and the state store was not asked anything
    assert refused(counting, payload) == message
    assert counting.total == 0


def test_sonoran_a_login_unit_id_too_long_for_a_key_is_a_422(store: InMemorySourceStateStore) -> None:
    login = copy.deepcopy(load_event("sonoran_unit_login.json"))
    login["data"][0]["unit"]["id"] = "7" * 1100
    assert refused(store, login) == "data[0].unit.id: identId longer than 64 characters"


def test_sonoran_a_status_naming_20000_identids_is_a_422_without_a_single_read(
    store: InMemorySourceStateStore,
) -> None:
    # Given the tester's 129 KB status event: 20,000 identIds (99.5 s and 19,999 WARNING lines before)
    counting = CountingStateStore(store)
    payload = {"type": "EVENT_UNIT_STATUS", "data": [{"identIds": list(range(20_000)), "status": 2}]}
    # Then it is refused by the bound on identIds per request, before any read
    assert refused(counting, payload) == "data: more than 100 identIds in one request (max_idents)"
    assert counting.total == 0


def test_sonoran_the_bound_on_identids_counts_every_event_and_is_configurable(
    store: InMemorySourceStateStore,
) -> None:
    events = [{"identIds": list(range(n * 30, n * 30 + 30)), "status": 2} for n in range(4)]
    payload = {"type": "EVENT_UNIT_STATUS", "data": events}
    # 4 events of 30: over the default 100 in total, within 120
    assert "max_idents" in refused(store, payload)
    assert run(store, payload, {"max_idents": 120}) == []


def test_sonoran_a_login_of_more_units_than_max_units_is_a_422_without_a_single_write(
    store: InMemorySourceStateStore,
) -> None:
    # Given a login of 2,000 units (max_units, 500 by default, is documented for every adapter)
    unit = load_event("sonoran_unit_login.json")["data"][0]
    logins = [copy.deepcopy(unit) for _ in range(2000)]
    for n, login in enumerate(logins):
        login["unit"]["id"] = n
        login["unit"]["data"]["unitNum"] = f"U-{n}"
    counting = CountingStateStore(store)
    message = refused(counting, {"type": "EVENT_UNIT_LOGIN", "data": logins}, {"max_idents": 1000})
    assert message == "data: at most 500 units per request (max_units)"
    assert counting.total == 0


def test_sonoran_unknown_identids_are_one_summary_log_line(store: InMemorySourceStateStore) -> None:
    # Given a status naming 50 identIds nobody logged in with
    payload = {"type": "EVENT_UNIT_STATUS", "data": [{"identIds": list(range(1000, 1050)), "status": 2}]}
    with captured_logs() as logs:
        assert run(store, payload) == []
    # Then one warning says how many, naming the first few
    [line] = [r for r in log_records(logs) if r["level"] == "WARNING"]
    assert (line["message"], line["unknown"], line["idents"]) == (
        "sonoran identIds unknown, their events skipped",
        50,
        [str(n) for n in range(1000, 1010)],
    )


def test_sonoran_each_identid_is_read_once_per_request(store: InMemorySourceStateStore) -> None:
    run(store, load_event("sonoran_unit_login.json"))
    counting = CountingStateStore(store)
    payload = {"type": "EVENT_UNIT_STATUS", "data": [{"identIds": [17, 17, 17], "status": 1}] * 3}
    assert len(run(counting, payload)) == 9
    assert counting.calls == {"get": 1, "put": 0, "delete": 0}
