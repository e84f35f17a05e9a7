"""The `snailycad` preset on SnailyCAD's UNIT_STATUS raw webhook body (the updated unit record)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from relay.errors import InvalidPayloadError
from relay.models import UnitChange
from relay.sources import AdapterContext
from relay.sources.registry import adapter_kind
from tests.support.constants import NOW
from tests.support.data import load_event

CONTEXT = AdapterContext(source="snailycad", received_at=NOW)


def run(payload: Any, options: dict[str, Any] | None = None) -> list[UnitChange]:
    kind = adapter_kind("snailycad")
    return kind.build(kind.options_model.model_validate(options or {})).normalise(payload, CONTEXT)


def test_snailycad_unit_status_becomes_the_full_unit() -> None:
    # Given the updated unit SnailyCAD posts
    payload = load_event("snailycad_unit_status.json")
    # When it is normalised
    changes = run(payload)
    # Then the unit carries every field, at SnailyCAD's status-change time
    assert changes == [
        UnitChange(
            id="1-12",
            at=datetime(2026, 11, 28, 11, 59, 50, tzinfo=UTC),
            fields={
                "officer_name": "Bubble Bubbleton",
                "officer_badge": "512",
                "department": "Patrol",
                "rank": "PO",
                "status": "10-8",
            },
        )
    ]


def test_snailycad_off_duty_clears_the_status_which_becomes_the_off_duty_code() -> None:
    # Given a unit set off duty (SnailyCAD sets statusId and status to null)
    payload = load_event("snailycad_unit_status.json") | {"status": None, "statusId": None}
    # Then the MDT hears the default off-duty status
    assert run(payload)[0].fields["status"] == "10-7"


def test_snailycad_options_override_the_preset_paths() -> None:
    # Given a community whose callsign is the department callsign plus the unit's
    options = {"fields": {"id": "join('', [department.callsign, callsign, '-', callsign2])"}}
    change = run(load_event("snailycad_unit_status.json"), options)[0]
    # Then only the id changes; the other default paths still apply
    assert change.id == "A1-12"
    assert change.fields["department"] == "Patrol"


def test_snailycad_without_a_second_callsign_uses_the_first() -> None:
    payload = load_event("snailycad_unit_status.json") | {"callsign2": None}
    assert run(payload)[0].id == "1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p.pop("callsign") and p.pop("callsign2"),
            "units[0].id: no unit id (the expression gave nothing)",
        ),
        (
            lambda p: p.update(lastStatusChangeTimestamp="last tuesday"),
            "units[0].at: 'last tuesday' is not an ISO 8601 time",
        ),
        (
            lambda p: p["status"]["value"].update(value=["10-8"]),
            "units[0].status: expected text or a number, got a list",
        ),
        (
            lambda p: p.update(callsign=12, callsign2="A"),
            "units[0].id: expression \"join('-', [callsign, callsign2][?@])\" failed: In function join(), "
            "invalid type for value",
        ),
    ],
)
def test_snailycad_malformed_units_get_a_precise_422(change: Any, message: str) -> None:
    payload = copy.deepcopy(load_event("snailycad_unit_status.json"))
    change(payload)
    with pytest.raises(InvalidPayloadError) as caught:
        run(payload)
    assert caught.value.message.startswith(message)
