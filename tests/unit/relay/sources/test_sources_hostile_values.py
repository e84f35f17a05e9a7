"""Values at the edges, in the places every adapter reads from a sender (issue #10, items 1-3): event
times outside UTC's range, epochs no date can hold, ids the partner would refuse. Each is a 422 that
names where it is, never a crash (500) and never an accepted change the partner then refuses. A kind
whose sender must get a 2xx for every authentic request (the ER:LC Event Webhook) acknowledges it
instead, with no change, and logs the same precise reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from relay.config.loader import build_adapter, parse_config
from relay.errors import InvalidPayloadError
from relay.memory import InMemorySourceStateStore
from relay.models import UnitChange, to_utc, usable_unit_id
from relay.sources import AdapterContext
from relay.sources.registry import CappedAdapter, adapter_kind
from tests.support.adapters import SAMPLES, AdapterSample, run_adapter, store_roster, with_value
from tests.support.clocks import FixedClock
from tests.support.constants import GUILD, MDT, NOW
from tests.support.data import base_config_data
from tests.support.logs import captured_logs, log_records

TIMED = sorted(name for name, sample in SAMPLES.items() if sample.time_at)
NAMED = sorted(name for name, sample in SAMPLES.items() if sample.id_at)
# The two ends of datetime's range, each an hour beyond it once in UTC.
OUT_OF_UTC = ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"]
NO_DATE = [10**400, -(10**400), "1" + "0" * 400, 1e308, -1e20]
# Ids the partner refuses (it trims with str.strip()) or no dispatcher can read back.
UNUSABLE_IDS = [
    "\x1c",
    "\x1f\x1e\x1d\x1c",
    " \x1c ",
    "A\u200b",
    "\ufeffADAM-12",
    "A\x00B",
    "A\U000e0001",
    "X" * 65,
]


def refused(sample: AdapterSample, body: dict[str, Any]) -> str:
    """The 422's message, or, for a kind that acknowledges what it cannot act on, its logged reason."""
    store = InMemorySourceStateStore(clock=FixedClock())
    store_roster(store)
    if adapter_kind(sample.adapter).acknowledges_unreadable:
        with captured_logs() as logs:
            assert run_adapter(sample, body, store) == []
        [line] = [r for r in log_records(logs) if r["level"] == "WARNING"]
        return str(line["reason"])
    with pytest.raises(InvalidPayloadError) as caught:
        run_adapter(sample, body, store)
    assert caught.value.status == 422
    return caught.value.message


def test_the_samples_are_accepted_as_they_are() -> None:
    # Given every adapter's real-shaped body, untouched / Then it becomes at least one unit
    for sample in SAMPLES.values():
        store = InMemorySourceStateStore(clock=FixedClock())
        store_roster(store)
        assert run_adapter(sample, sample.body(), store), sample.adapter


@pytest.mark.parametrize("value", OUT_OF_UTC)
@pytest.mark.parametrize("adapter", TIMED)
def test_an_event_time_outside_utcs_range_is_a_422_naming_the_field(adapter: str, value: str) -> None:
    # Given an event time that parses, but whose UTC form is outside datetime's range
    sample = SAMPLES[adapter]
    assert sample.time_at is not None
    # When the adapter reads it / Then it is a 422 naming the field, not an OverflowError
    message = refused(sample, with_value(sample.body(), sample.time_at, value))
    assert message.startswith(f"{sample.time_where}: ")
    assert "outside the range of UTC times" in message


@pytest.mark.parametrize(
    "value", NO_DATE, ids=["int-1e400", "int-minus-1e400", "digits-1e400", "1e308", "-1e20"]
)
@pytest.mark.parametrize("adapter", TIMED)
def test_an_epoch_no_date_can_hold_is_a_422_naming_the_field(adapter: str, value: Any) -> None:
    sample = SAMPLES[adapter]
    assert sample.time_at is not None
    message = refused(sample, with_value(sample.body(), sample.time_at, value))
    assert message.startswith(f"{sample.time_where}: ")
    # And a 401-digit number is not echoed whole
    assert len(message) < 200


def test_erlc_a_bad_event_time_is_refused_even_for_a_player_not_on_the_roster() -> None:
    sample = SAMPLES["erlc-events"]
    body = with_value(sample.body(), ("Data", "Player"), "Stranger:999")
    assert refused(sample, with_value(body, ("Timestamp",), 10**400)).startswith("Timestamp: ")


@pytest.mark.parametrize("unit_id", UNUSABLE_IDS, ids=repr)
@pytest.mark.parametrize("adapter", NAMED)
def test_an_id_the_partner_would_refuse_is_a_422_naming_where_it_is(adapter: str, unit_id: str) -> None:
    # Given an id that is blank to str.strip(), holds a control, format or unassigned character, or is
    # too long
    sample = SAMPLES[adapter]
    assert sample.id_at is not None
    # When the adapter reads it / Then it is refused at the door, where it is in the body
    message = refused(sample, with_value(sample.body(), sample.id_at, unit_id))
    assert message.startswith(f"{sample.id_where}: "), message


def test_every_adapter_gives_the_same_reason_for_the_same_id() -> None:
    # One definition of a usable id: the reason after the location is the same everywhere
    reasons = {
        refused(SAMPLES[name], with_value(SAMPLES[name].body(), SAMPLES[name].id_at or (), "A\u200b"))
        .split(": ", 1)[1]
        .removeprefix("Value error, ")
        for name in NAMED
    }
    assert reasons == {"holds format character U+200B at position 1"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("\x1c", "empty once surrounding blanks are trimmed"),
        ("\x1f\x1e\x1d\x1c", "empty once surrounding blanks are trimmed"),
        ("\u2028 \u00a0", "empty once surrounding blanks are trimmed"),
        ("A" * 65, "longer than 64 characters"),
        ("A\u200bB", "holds format character U+200B at position 1"),
        ("A\x7f", "holds control character U+007F at position 1"),
        ("\ud800A", "holds surrogate character U+D800 at position 0"),
        ("A\U000e0001", "holds format character U+E0001 at position 1"),
        ("A\u0378", "holds unassigned character U+0378 at position 1"),
    ],
)
def test_usable_unit_id_refuses_what_the_partner_or_a_dispatcher_cannot_use(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + reason.replace("+", r"\+") + "$"):
        usable_unit_id(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" ADAM-12\t", "ADAM-12"),
        ("\x1cA\x1f", "A"),
        ("\u00a0Lincoln 3\u2003", "Lincoln 3"),
        ("1A-12 é", "1A-12 é"),
    ],
)
def test_usable_unit_id_trims_as_the_partner_trims(text: str, expected: str) -> None:
    assert usable_unit_id(text) == expected


def test_to_utc_says_when_a_time_has_no_utc_form() -> None:
    assert to_utc(datetime(2026, 11, 28, 12, tzinfo=None)) == datetime(2026, 11, 28, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="outside the range of UTC times"):
        to_utc(datetime.fromisoformat(OUT_OF_UTC[0]))


def test_a_unit_change_never_holds_a_time_without_a_utc_form() -> None:
    # The queue message's instants are all UTC: a time that has none is a validation error, not a crash
    with pytest.raises(ValueError, match="outside the range of UTC times"):
        UnitChange(id="A", at=datetime.fromisoformat(OUT_OF_UTC[1]))
    extreme = UnitChange(id="A", at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert extreme.model_dump(mode="json")["at"] == "9999-12-31T23:59:59.000Z"


@pytest.mark.parametrize("adapter", sorted(SAMPLES))
def test_every_adapter_kind_is_held_to_max_units(adapter: str) -> None:
    # Given any kind built for a source, as the ingress builds it
    data = base_config_data()
    data["sources"]["s"] = {**data["sources"]["cad"], "adapter": adapter, "options": SAMPLES[adapter].options}
    data["erlc"] = {"servers": {"main": {"server_key_secret": "k", "mdt_id": MDT, "guild_id": GUILD}}}
    config = parse_config(data)
    built, _ = build_adapter("s", config.sources["s"])
    # Then its requests are capped at the documented max_units
    assert isinstance(built, CappedAdapter)
    assert built.max_units == 500


def test_the_max_units_cap_refuses_a_request_over_it_whatever_the_kind_counts() -> None:
    # Given a Sonoran status naming three remembered units, on a source allowing two
    store = InMemorySourceStateStore(clock=FixedClock())
    for ident in (1, 2, 3):
        store.put("cache#s", f"ident#{ident}", {"id": f"U-{ident}"})
    data = base_config_data()
    data["sources"]["s"] = {**data["sources"]["cad"], "adapter": "sonoran", "options": {"max_units": 2}}
    built, _ = build_adapter("s", parse_config(data).sources["s"])
    status = {"type": "EVENT_UNIT_STATUS", "data": [{"identIds": [1, 2, 3], "status": 2}]}
    with pytest.raises(InvalidPayloadError) as caught:
        built.normalise(status, AdapterContext(source="s", received_at=NOW, state=store))
    assert caught.value.message == "body: 3 unit changes, at most 2 per request (max_units)"
