from __future__ import annotations

from datetime import UTC, datetime

import pytest

from relay.errors import InvalidPayloadError
from relay.sources import AdapterContext
from relay.sources.units import UnitsAdapter, UnitsOptions
from tests.support.constants import NOW

CONTEXT = AdapterContext(source="cad", received_at=NOW)


def normalise(payload: object) -> list:
    return UnitsAdapter(UnitsOptions()).normalise(payload, CONTEXT)


def test_units_adapter_keeps_present_fields_only() -> None:
    # Given a unit carrying only its status
    changes = normalise({"units": [{"id": " ADAM-12 ", "status": "10-8"}]})
    # Then the change sets status alone (absent fields stay untouched), id trimmed, at = receive time
    assert len(changes) == 1
    assert changes[0].id == "ADAM-12"
    assert changes[0].fields == {"status": "10-8"}
    assert changes[0].at == NOW


def test_units_adapter_null_clears_and_event_time_is_used() -> None:
    changes = normalise({"units": [{"id": "A", "rank": None, "at": "2026-11-28T11:00:00+01:00"}]})
    assert changes[0].fields == {"rank": None}
    assert changes[0].at == datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "expected an object { units: [...] }"),
        ({"unit": []}, "expected an object { units: [...] }"),
        ({"units": []}, "units: List should have at least 1 item"),
        ({"units": "ADAM-12"}, "units: Input should be a valid list"),
        ({"units": [{"status": "10-8"}]}, "units.0.id: Field required"),
        ({"units": [{"id": "   "}]}, "units.0.id: Value error, empty once surrounding blanks are trimmed"),
        ({"units": [{"id": "\x1c"}]}, "units.0.id: Value error, empty once surrounding blanks are trimmed"),
        ({"units": [{"id": "A", "status": 8}]}, "units.0.status"),
        ({"units": [{"id": "A", "colour": "red"}]}, "units.0.colour: Extra inputs are not permitted"),
        ({"units": [{"id": "A"}], "extra": 1}, "extra: Extra inputs are not permitted"),
        ({"units": [{"id": "A", "at": "yesterday"}]}, "units.0.at"),
        ({"units": [{"id": "A" * 65}]}, "units.0.id: Value error, longer than 64 characters"),
    ],
)
def test_units_adapter_rejects_bad_payloads_with_a_precise_message(payload: object, message: str) -> None:
    with pytest.raises(InvalidPayloadError) as caught:
        normalise(payload)
    assert message in caught.value.message


def test_units_adapter_caps_units_per_request() -> None:
    adapter = UnitsAdapter(UnitsOptions(max_units=2))
    with pytest.raises(InvalidPayloadError, match="at most 2 units"):
        adapter.normalise({"units": [{"id": "A"}, {"id": "B"}, {"id": "C"}]}, CONTEXT)
