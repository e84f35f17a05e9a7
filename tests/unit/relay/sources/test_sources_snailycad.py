"""The `snailycad` preset on SnailyCAD's raw webhooks: the unit as SnailyCAD shows it (its callsign rules,
division callsigns, combined units with their officers), and the webhooks it does not act on yet."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from relay.errors import InvalidPayloadError
from relay.models import UnitChange
from relay.sources import AdapterContext
from relay.sources.mapping import search
from relay.sources.registry import adapter_kind
from relay.sources.snailycad_callsign import replace_template_variables, snailycad_callsign
from tests.support.constants import NOW, ROOT
from tests.support.data import load_event

CONTEXT = AdapterContext(source="snailycad", received_at=NOW)
UPDATED_AT = datetime(2026, 11, 28, 11, 59, 50, 412_000, tzinfo=UTC)


def run(payload: Any, options: dict[str, Any] | None = None) -> list[UnitChange]:
    kind = adapter_kind("snailycad")
    return kind.build(kind.options_model.model_validate(options or {})).normalise(payload, CONTEXT)


def officer(**changes: Any) -> dict[str, Any]:
    """The updated officer SnailyCAD posts (status-controller.ts, with leoProperties), changed."""
    unit: dict[str, Any] = copy.deepcopy(load_event("snailycad_unit_status.json"))
    unit.update(changes)
    return unit


def division(division_id: str, callsign: str | None) -> dict[str, Any]:
    return {"id": division_id, "callsign": callsign, "value": {"value": division_id}}


def test_snailycad_unit_status_becomes_the_full_unit_under_the_callsign_snailycad_shows() -> None:
    # Given the updated officer SnailyCAD posts: department callsign A, callsigns 1 and 12
    changes = run(officer())
    # Then the id is SnailyCAD's default template "{department}{callsign1} - {callsign2}{division}"
    # (it was "1-12", a callsign no SnailyCAD screen shows), at the record's updatedAt
    assert changes == [
        UnitChange(
            id="A1 - 12",
            at=UPDATED_AT,
            fields={
                "officer_name": "Bubble Bubbleton",
                "officer_badge": "512",
                "department": "Patrol",
                "rank": "Police Officer",
                "status": "10-8",
            },
        )
    ]


def test_snailycad_the_dropped_last_status_change_column_is_never_read() -> None:
    # Given a body from a SnailyCAD older than the 2023 migration that dropped the column, holding junk
    payload = officer(lastStatusChangeTimestamp="last tuesday")
    # Then it is not read: the time is updatedAt, and nothing is refused
    assert run(payload)[0].at == UPDATED_AT


@pytest.mark.parametrize(
    ("changes", "callsign"),
    [
        ({}, "A1 - 12"),
        ({"department": {"callsign": None, "value": {"value": "Patrol"}}}, "1 - 12"),
        ({"divisions": [division("k9", "K"), division("trf", "T")]}, "A1 - 12K"),
        # On an active division callsign: that pair, and that division first (useGenerateCallsign.ts)
        (
            {
                "divisions": [division("k9", "K"), division("trf", "T")],
                "activeDivisionCallsign": {"divisionId": "trf", "callsign": "5", "callsign2": "31"},
            },
            "A5 - 31T",
        ),
        # ... unless the officer is no longer in that division
        (
            {
                "divisions": [division("k9", "K")],
                "activeDivisionCallsign": {"divisionId": "trf", "callsign": "5", "callsign2": "31"},
            },
            "A1 - 12K",
        ),
        (
            {"department": {"callsign": "A", "customTemplate": "{callsign1}-{callsign2}", "value": {}}},
            "1-12",
        ),
        ({"userDefinedCallsign": "ADAM-12"}, "ADAM-12"),
        ({"incremental": 7, "userDefinedCallsign": "L-{incremental}"}, "L-7"),
    ],
)
def test_snailycad_callsigns_follow_snailycads_own_rules(changes: dict[str, Any], callsign: str) -> None:
    assert run(officer(**changes))[0].id == callsign


@pytest.mark.parametrize(
    ("template", "callsign"),
    [
        ("{callsign1}-{callsign1}", "1-callsign1"),  # only the first of a variable is replaced
        ("{foo}{callsign2}", "foo12"),  # an unknown variable stays as its bare name
        ("{callsign1} {incremental}", "1 "),  # 0, "" and null are dropped
        ("department{callsign1}", "A1"),  # a bare word equal to a variable's name is replaced too
    ],
)
def test_snailycad_template_quirks_are_snailycads(template: str, callsign: str) -> None:
    unit = officer(incremental=0)
    assert snailycad_callsign(unit, template) == callsign
    assert replace_template_variables("{a}-{b}", {"a": 1.0, "b": "x"}) == "1-x"


def test_snailycad_the_callsign_template_is_the_cads_setting() -> None:
    options = {"callsign_template": "{department}-{callsign1}{callsign2}"}
    assert run(officer(), options)[0].id == "A-112"


def combined(**changes: Any) -> dict[str, Any]:
    """A combined unit (combinedUnitProperties): its officers, no citizen of its own."""
    member = officer(statusId=None, status=None)
    other = officer(
        id="o2",
        callsign="1",
        callsign2="14",
        badgeNumberString="533",
        citizen={"name": "Jane", "surname": "Roe"},
    )
    unit = {
        "id": "6f1c2d3e",
        "userDefinedCallsign": None,
        "callsign": "1",
        "callsign2": "12",
        "incremental": 3,
        "pairedUnitTemplate": None,
        "status": officer()["status"],
        "department": {"callsign": "A", "value": {"value": "Patrol"}},
        "officers": [member, other],
        "updatedAt": "2026-11-28T11:59:50.412Z",
    }
    unit.update(changes)
    return unit


def test_snailycad_a_combined_unit_keeps_its_officers() -> None:
    # Given a combined unit of two officers (their names were lost before)
    [change] = run(combined())
    # Then it is one unit under SnailyCAD's paired-unit callsign, naming both officers and badges
    assert change == UnitChange(
        id="1A-1",
        at=UPDATED_AT,
        fields={
            "officer_name": "Bubble Bubbleton, Jane Roe",
            "officer_badge": "512, 533",
            "department": "Patrol",
            "status": "10-8",
        },
    )


@pytest.mark.parametrize(
    ("changes", "options", "callsign"),
    [
        ({"pairedUnitTemplate": "{department}-{callsign2}"}, {}, "A-12"),
        ({"userDefinedCallsign": "TANGO-1"}, {}, "TANGO-1"),
        ({}, {"paired_unit_template": "P-{incremental}"}, "P-3"),
    ],
)
def test_snailycad_combined_unit_callsigns(
    changes: dict[str, Any], options: dict[str, Any], callsign: str
) -> None:
    assert run(combined(**changes), options)[0].id == callsign


def test_snailycad_a_combined_unit_without_a_department_takes_its_first_officers() -> None:
    assert run(combined(department=None))[0].fields["department"] == "Patrol"


def test_snailycad_an_ems_fd_deputy_uses_its_one_division() -> None:
    deputy = officer(divisions=None, division=division("eng", "E"), rank=None)
    del deputy["divisions"]
    change = run(deputy)[0]
    assert (change.id, "rank" in change.fields) == ("A1 - 12E", False)


def test_snailycad_off_duty_clears_the_status_which_becomes_the_off_duty_code() -> None:
    # Given a unit set off duty (SnailyCAD sets statusId and status to null)
    assert run(officer(status=None, statusId=None))[0].fields["status"] == "10-7"


def test_snailycad_options_override_the_preset_paths() -> None:
    options = {"fields": {"id": "join('-', [callsign, callsign2][?@])"}}
    change = run(officer(), options)[0]
    # Then only the id changes; the other default paths still apply
    assert (change.id, change.fields["department"]) == ("1-12", "Patrol")


def test_snailycad_a_panic_source_reads_a_unit_record_as_a_panic_not_a_status() -> None:
    # A panic posts a unit record like UNIT_STATUS: only the source's raw_webhook tells them apart
    signals = run(officer(), {"raw_webhook": "PANIC_BUTTON"})
    assert [type(s).__name__ for s in signals] == ["Panic"]


def test_snailycad_a_unit_record_at_a_call_911_source_is_acknowledged_not_made_a_call() -> None:
    assert run(officer(), {"raw_webhook": "CALL_911"}) == []


def test_snailycad_a_911_call_at_the_unit_status_source_is_acknowledged_not_refused() -> None:
    call = {"id": "c1", "caseNumber": 42, "name": "Jane Citizen", "location": "Route 68", "assignedUnits": []}
    assert run(call) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            # A department template of the first callsign alone, and no first callsign: no callsign at all
            lambda p: p.update(callsign=None, department={"customTemplate": "{callsign1}"}),
            "units[0].id: no unit id (the expression gave nothing)",
        ),
        (lambda p: p.update(updatedAt="last tuesday"), "units[0].at: 'last tuesday' is not an ISO 8601 time"),
        (
            lambda p: p["status"]["value"].update(value=["10-8"]),
            "units[0].status: expected text or a number, got a list",
        ),
        (
            lambda p: p.update(callsign2=["12"]),
            "units[0].id: expression \"snailycad_callsign(@, '{department}{callsign1} - "
            "{callsign2}{division}', '1A-{callsign1}')\" failed: In function snailycad_callsign(), "
            "invalid type for value: ['12']",
        ),
    ],
)
def test_snailycad_malformed_units_get_a_precise_422(change: Any, message: str) -> None:
    payload = officer()
    change(payload)
    with pytest.raises(InvalidPayloadError) as caught:
        run(payload)
    assert caught.value.message.startswith(message)


def test_snailycad_a_numeric_callsign_is_printed_as_javascript_prints_it() -> None:
    assert run(officer(callsign=12, callsign2=7.0))[0].id == "A12 - 7"


@pytest.mark.parametrize(
    ("options", "field"),
    [({"raw_webhook": "BOLO"}, "raw_webhook"), ({"callsign_template": ""}, "callsign_template")],
)
def test_snailycad_an_option_no_source_can_use_is_refused(options: dict[str, Any], field: str) -> None:
    # An empty template would name no unit at all: every status a 422
    with pytest.raises(ValueError, match=field):
        adapter_kind("snailycad").options_model.model_validate(options)


def test_snailycad_callsign_is_a_mapping_function_a_911_calls_assigned_units_can_use() -> None:
    # Given SnailyCAD's CALL_911 body (calls-911-controller.ts: each assigned unit under `unit`)
    call = json.loads(
        (ROOT / "tests" / "payloads" / "snailycad" / "call_911.json").read_text(encoding="utf-8")
    )
    # Then the recipe in docs/sources/mapping.md names them as SnailyCAD does
    expression = (
        "assignedUnits[].snailycad_callsign(unit, '{department}{callsign1} - {callsign2}{division}', "
        "'1A-{callsign1}')"
    )
    assert search(expression, call, "units_assigned") == ["A1 - 12"]
    assert expression in (ROOT / "docs" / "sources" / "mapping.md").read_text(encoding="utf-8")
