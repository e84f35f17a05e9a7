"""The `mapping` adapter: JMESPath picks units and fields; rules finish them; errors say where."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from relay.config.loader import parse_config
from relay.errors import ConfigError, InvalidPayloadError
from relay.models import UnitChange
from relay.sources import AdapterContext
from relay.sources.registry import adapter_kind
from tests.support.constants import NOW
from tests.support.data import base_config_data

RECEIVED = AdapterContext(source="hook", received_at=NOW)


def mapping(options: dict[str, Any]) -> Any:
    kind = adapter_kind("mapping")
    return kind.build(kind.options_model.model_validate(options))


def run(options: dict[str, Any], payload: Any) -> list[UnitChange]:
    return mapping(options).normalise(payload, RECEIVED)


def config_error(options: dict[str, Any]) -> str:
    data = base_config_data()
    data["sources"]["hook"] = {**data["sources"]["cad"], "adapter": "mapping", "options": options}
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return str(caught.value)


def test_mapping_picks_units_and_fields_from_a_list() -> None:
    # Given a body with a list of officers in the sender's own words
    payload = {"officers": [{"cs": "A-1", "who": "Ann", "st": "avail"}, {"cs": "B-2", "who": "Bob"}]}
    options = {"units": "officers", "fields": {"id": "cs", "officer_name": "who", "status": "st"}}
    # When it is mapped
    changes = run(options, payload)
    # Then each item is a unit; a field the item lacks is left alone (absent), not cleared
    assert changes == [
        UnitChange(id="A-1", at=NOW, fields={"officer_name": "Ann", "status": "avail"}),
        UnitChange(id="B-2", at=NOW, fields={"officer_name": "Bob"}),
    ]


def test_mapping_an_object_is_one_unit_and_the_default_is_the_whole_body() -> None:
    assert run({"fields": {"id": "unit.callsign"}}, {"unit": {"callsign": "C-3"}}) == [
        UnitChange(id="C-3", at=NOW, fields={})
    ]
    assert run({"units": "unit", "fields": {"id": "callsign"}}, {"unit": {"callsign": "C-3"}})[0].id == "C-3"


def test_mapping_filter_skips_items_for_which_it_is_falsy() -> None:
    payload = {
        "rows": [{"id": "A", "kind": "unit"}, {"id": "B", "kind": "note"}, {"id": "C", "kind": "unit"}]
    }
    changes = run({"units": "rows", "filter": "kind == 'unit'", "fields": {"id": "id"}}, payload)
    assert [c.id for c in changes] == ["A", "C"]


def test_mapping_value_maps_turn_the_senders_words_into_the_mdts() -> None:
    # Given a numeric status and a table from numbers to 10-codes
    options = {
        "fields": {"id": "id", "status": "status"},
        "value_maps": {"status": {"2": "10-8", "0": "10-7"}},
    }
    # When a number arrives, it is looked up as text
    assert run(options, {"id": "A", "status": 2})[0].fields == {"status": "10-8"}
    # Then a value not in the table is kept by default
    assert run(options, {"id": "A", "status": 9})[0].fields == {"status": "9"}


def test_mapping_unmapped_values_can_be_omitted_or_refused() -> None:
    base = {"fields": {"id": "id", "status": "status"}, "value_maps": {"status": {"2": "10-8"}}}
    assert run({**base, "unmapped": "omit"}, {"id": "A", "status": 9})[0].fields == {}
    with pytest.raises(InvalidPayloadError) as caught:
        run({**base, "unmapped": "error"}, {"id": "A", "status": 9})
    assert caught.value.message == "units[0].status: '9' is not in value_maps.status (known: '2')"


def test_mapping_constants_win_and_defaults_fill_nulls() -> None:
    options = {
        "fields": {"id": "id", "department": "dept", "status": "status"},
        "constants": {"department": "Patrol"},
        "defaults": {"status": "10-7"},
    }
    assert run(options, {"id": "A", "dept": "Traffic"})[0].fields == {
        "department": "Patrol",
        "status": "10-7",
    }


def test_mapping_numbers_and_booleans_become_text() -> None:
    options = {"fields": {"id": "id", "officer_badge": "badge", "rank": "flag", "status": "ratio"}}
    change = run(options, {"id": 12, "badge": 512, "flag": True, "ratio": 2.0})[0]
    assert (change.id, change.fields) == ("12", {"officer_badge": "512", "rank": "true", "status": "2"})


def test_mapping_uppercase_id_and_text_helpers() -> None:
    options = {
        "uppercase_id": True,
        "fields": {
            "id": "trim(callsign)",
            "officer_name": "before_last(player, ':')",
            "rank": "upper(rank)",
            "status": "plain(status)",
        },
    }
    payload = {"callsign": " adam-12 ", "player": "Some:Name:123", "rank": "po", "status": "**10-8**"}
    change = run(options, payload)[0]
    assert change.id == "ADAM-12"
    assert change.fields == {"officer_name": "Some:Name", "rank": "PO", "status": "10-8"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-28T11:59:50Z", datetime(2026, 11, 28, 11, 59, 50, tzinfo=UTC)),
        ("2026-11-28T12:59:50+01:00", datetime(2026, 11, 28, 11, 59, 50, tzinfo=UTC)),
        (1795867190, datetime(2026, 11, 28, 11, 59, 50, tzinfo=UTC)),
        (1795867190500, datetime(2026, 11, 28, 11, 59, 50, 500000, tzinfo=UTC)),
        ("1795867190", datetime(2026, 11, 28, 11, 59, 50, tzinfo=UTC)),
        (None, NOW),
    ],
)
def test_mapping_event_time_from_iso_text_or_epoch(value: Any, expected: datetime) -> None:
    options = {"fields": {"id": "id"}, "at": "when"}
    assert run(options, {"id": "A", "when": value})[0].at == expected


@pytest.mark.parametrize(
    ("options", "payload", "message"),
    [
        (
            {"units": "units", "fields": {"id": "id"}},
            {"other": 1},
            "body: `units` expression 'units' found nothing",
        ),
        (
            {"units": "units", "fields": {"id": "id"}},
            {"units": "A-1"},
            "body: `units` expression 'units' gave str, expected an object or a list",
        ),
        ({"fields": {"id": "id"}}, {"name": "x"}, "units[0].id: no unit id (the expression gave nothing)"),
        (
            {"fields": {"id": "id", "status": "status"}},
            {"id": "A", "status": {"code": 8}},
            "units[0].status: expected text or a number, got an object",
        ),
        (
            {"fields": {"id": "id"}, "at": "when"},
            {"id": "A", "when": "yesterday"},
            "units[0].at: 'yesterday' is not an ISO 8601 time",
        ),
        (
            {"fields": {"id": "id", "status": "upper(status)"}},
            {"id": "A", "status": 8},
            "units[0].status: expression 'upper(status)' failed: In function upper(), invalid type for "
            "value: 8, expected one of: ['string', 'null'], received: \"number\"",
        ),
        (
            {"fields": {"id": "id", "status": "status"}},
            {"id": "A", "status": "x" * 300},
            "units[0].status: String should have at most 256 characters",
        ),
        ({"fields": {"id": "id"}}, {"id": "x" * 65}, "units[0].id: longer than 64 characters"),
    ],
)
def test_mapping_bad_payloads_get_a_422_saying_where(
    options: dict[str, Any], payload: Any, message: str
) -> None:
    with pytest.raises(InvalidPayloadError) as caught:
        run(options, payload)
    assert caught.value.status == 422
    assert caught.value.message == message


def test_mapping_refuses_more_units_than_allowed() -> None:
    payload = {"rows": [{"id": f"U-{i}"} for i in range(3)]}
    with pytest.raises(InvalidPayloadError, match="units: at most 2 units per request"):
        run({"units": "rows", "fields": {"id": "id"}, "max_units": 2}, payload)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"fields": {"id": "id", "status": "status["}},
            "relay.toml: sources.hook.options.fields.status: Value error, invalid JMESPath 'status['",
        ),
        (
            {"fields": {"id": "shout(id)"}},
            "relay.toml: sources.hook.options.fields.id: Value error, invalid JMESPath 'shout(id)': "
            "unknown function shout()",
        ),
        ({"filter": "a ==", "fields": {"id": "id"}}, "relay.toml: sources.hook.options.filter: Value error"),
        (
            {"fields": {"status": "status"}},
            "relay.toml: sources.hook.options.fields: Value error, "
            "an expression for the unit id (`id`) is required",
        ),
        (
            {"units": "rows"},
            "relay.toml: sources.hook.options.fields: Value error, nothing to map: give `fields`",
        ),
        ({"fields": {"id": "id", "colour": "c"}}, "sources.hook.options.fields.colour"),
        ({"fields": {"id": "id"}, "unmapped": "maybe"}, "sources.hook.options.unmapped"),
    ],
)
def test_mapping_bad_options_are_config_errors_naming_the_key(options: dict[str, Any], message: str) -> None:
    assert message in config_error(options)
