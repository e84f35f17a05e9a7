"""The partner's list of units, read only as far as it can be understood (issue 20, item 1).

The list endpoint is not in the contract: the relay reads it as the contract's ActiveUnit records, every
writable field present (a string, or null for unset), one record per id. An answer it cannot fully read
is not a read: that MDT's units are given back, counted and alarmed on, and nothing is written from it
(a unit that looks new would be created with its other fields blank). A unit with stored state that a
good list does not name is written with every value the relay knows, never as a bare create.
"""

from __future__ import annotations

import io
import logging
import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.config.schema import UnitRules
from relay.consumer.policy import UnitPolicy
from relay.errors import NorthcaUnreadableListError
from relay.models import UNIT_FIELDS
from relay.northca.wire import read_unit_list
from relay.observability import logger
from tests.support.constants import MDT
from tests.support.consumer import FULL, Harness, MemoryPartner, change, message, record

OTHER_MDT = "9f1c3a52-6a0e-4a8f-bf0e-2b9d1f0c7e11"


def unit(unit_id: Any, **fields: Any) -> dict[str, Any]:
    """A list record as a partner storing "" for an omitted field sends it: every field key present."""
    return {"id": unit_id, **dict.fromkeys(UNIT_FIELDS, ""), "updated_at": "2026-11-28T12:00:00Z", **fields}


class ListingPartner(MemoryPartner):
    """The in-memory partner whose list answer is passed through `listing` (whatever the test says)."""

    def __init__(self, listing: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.listing = listing

    def list_records(self, mdt_id: str, guild_id: str) -> Any:
        return self.listing(super().list_records(mdt_id, guild_id))


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    level = logger.log_level
    logger.setLevel("INFO")
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


# ------------------------------------------------------------------ the reader


def test_a_good_list_is_read_with_nulls_as_unset_and_unknown_keys_ignored() -> None:
    units = read_unit_list(
        [
            unit("ADAM-12", officer_name="B. Bubbleton", rank=None, mdt_code="X1", last_seen=None),
            unit("  LINCOLN-3 ", status="10-8"),
        ]
    )
    assert sorted(units) == ["ADAM-12", "LINCOLN-3"]
    assert units["ADAM-12"].fields == {**dict.fromkeys(UNIT_FIELDS, ""), "officer_name": "B. Bubbleton"}
    assert units["LINCOLN-3"].fields["status"] == "10-8"
    assert read_unit_list([]) == {}


@pytest.mark.parametrize(
    "updated_at",
    [None, "not a time", 1796174054000, "2026-11-28T12:00:00", True, "", ["2026"]],
    ids=["null", "garbage", "epoch-number", "naive", "bool", "empty", "list"],
)
def test_an_updated_at_the_relay_cannot_read_is_no_time_and_the_read_stands(updated_at: Any) -> None:
    # The one key read leniently: without a time, another writer's value is dated by the read itself,
    # which never lets an older change revert it (tests/unit/relay/consumer/test_consumer_hostile.py
    # shows it).
    [(unit_id, listed)] = read_unit_list([unit("U-1", status="10-8", updated_at=updated_at)]).items()
    assert (unit_id, listed.fields["status"], listed.updated_at) == ("U-1", "10-8", None)
    record_without_time = unit("U-2")
    del record_without_time["updated_at"]
    assert read_unit_list([record_without_time])["U-2"].updated_at is None


UNREADABLE_LISTS: dict[str, tuple[Any, str]] = {
    "not-a-list": ({"units": [unit("U-1")]}, "not a list"),
    "null": (None, "not a list"),
    "junk-entries": ([1, "a", None, [], {"id": 5}, {"id": None}], "entry 0 is not a unit record (int)"),
    "one-junk-among-good": ([unit("U-1"), "U-2"], "entry 1 is not a unit record (str)"),
    "numeric-id": ([unit(5, officer_name="Five")], "entry 0: id is not a string (int)"),
    "bool-id": ([unit(True)], "entry 0: id is not a string (bool)"),
    "null-id": ([unit(None)], "entry 0: id is not a string (null)"),
    "no-id": ([{k: v for k, v in unit("U-1").items() if k != "id"}], "entry 0: id is not a string (missing)"),
    "blank-id": ([unit(" \t ")], "entry 0: id is empty"),
    "no-field-keys": ([{"id": "U-1", "status": "10-8"}], "entry 0 (U-1): no officer_name"),
    "one-field-key-missing": (
        [{k: v for k, v in unit("U-1").items() if k != "rank"}],
        "entry 0 (U-1): no rank",
    ),
    "int-value": ([unit("U-1", rank=5)], "entry 0 (U-1): rank is not text (int)"),
    "float-value": ([unit("U-1", officer_badge=5.0)], "entry 0 (U-1): officer_badge is not text (float)"),
    "bool-value": ([unit("U-1", status=False)], "entry 0 (U-1): status is not text (bool)"),
    "list-value": ([unit("U-1", department=["Patrol"])], "entry 0 (U-1): department is not text (list)"),
    "object-value": (
        [unit("U-1", officer_name={"v": "A"})],
        "entry 0 (U-1): officer_name is not text (dict)",
    ),
    "listed-twice": ([unit("U-1", rank="SGT"), unit("U-1", rank="")], "entry 1: id 'U-1' is listed twice"),
    "listed-twice-once-padded": ([unit("U-1"), unit(" U-1 ")], "entry 1: id 'U-1' is listed twice"),
}


@pytest.mark.parametrize(("data", "said"), UNREADABLE_LISTS.values(), ids=UNREADABLE_LISTS.keys())
def test_a_list_the_relay_cannot_fully_read_is_no_read(data: Any, said: str) -> None:
    with pytest.raises(NorthcaUnreadableListError) as caught:
        read_unit_list(data)
    assert said in caught.value.message


def test_the_reason_a_list_is_unreadable_is_short_and_printable_whatever_the_list_holds() -> None:
    # Given ten thousand bad entries, each id long and full of escape sequences
    data = [unit(f"\x1b[31m{i}" + "x" * 5_000, rank=i) for i in range(10_000)]
    # When it is read
    with pytest.raises(NorthcaUnreadableListError) as caught:
        read_unit_list(data)
    # Then the reason names the first few, counts the rest, and holds no control character
    reason = caught.value.message
    assert len(reason) < 600
    assert "and 9997 more" in reason
    assert reason.isprintable()


# ------------------------------------------------------------------ the consumer on such a list


@pytest.mark.parametrize(
    "listing",
    [
        lambda units: [{"id": u["id"], "updated_at": u["updated_at"]} for u in units],
        lambda units: [1, "a", None, [], {"id": 5}, {"id": None}],
        lambda units: [dict(u, id=int(u["id"])) for u in units],
        lambda units: [dict(u, officer_name=7) for u in units],
        lambda units: [*units, *units],
        lambda units: {"units": units},
    ],
    ids=["field-keys-missing", "junk", "numeric-id", "value-not-text", "duplicates", "not-a-list"],
)
def test_consumer_an_unreadable_list_writes_nothing_gives_the_messages_back_and_alarms(
    listing: Any, log_text: io.StringIO
) -> None:
    # Given a unit "5" whose officer a dispatcher typed in, and a partner whose list the relay cannot read
    harness = Harness()
    harness.partner = ListingPartner(listing, clock=harness.clock)
    harness.partner.edit("5", officer_name="Keep Me", officer_badge="512", rank="PO")
    # When a change of its status arrives
    failed = harness.run(record("m1", message("w1", change("5", 1, status="10-8"))))
    # Then nothing is written, the message is given back, counted, and the alarmed line is logged
    assert harness.partner.requests == []
    assert harness.partner.unit("5")["officer_name"] == "Keep Me"
    assert failed == {"m1"}
    assert harness.outcome.unreadable_lists == 1
    assert harness.outcome.counts(received=1)["PartnerMisconfigured"] == 1
    assert "PARTNER'S LIST OF UNITS CANNOT BE READ" in log_text.getvalue()
    # And it was read once: the same answer again would say nothing new
    assert len(harness.partner.lists) == 1


def test_consumer_an_unreadable_list_fails_only_its_own_mdt() -> None:
    # Given a partner whose list of one MDT holds junk, and a good list for the other
    harness = Harness()
    harness.partner = ListingPartner(lambda units: units, clock=harness.clock)
    original = harness.partner.list_records
    harness.partner.list_records = lambda mdt, guild: (  # type: ignore[method-assign]
        [None] if mdt == MDT else original(mdt, guild)
    )
    # When one batch holds a change for each MDT
    failed = harness.run(
        record("m1", message("w1", change("U-1", 1, status="10-8"))),
        record("m2", message("w2", change("U-2", 1, status="10-8"), mdt=OTHER_MDT)),
    )
    # Then the other MDT's unit is written and only the first message comes back
    assert failed == {"m1"}
    assert harness.partner.unit("U-2", OTHER_MDT)["status"] == "10-8"
    assert (MDT, "U-1") not in harness.partner.units


# ------------------------------------------------------------------ a unit a good list does not name


def test_consumer_a_unit_the_relay_wrote_missing_from_a_partial_list_is_written_whole() -> None:
    # Given a unit the relay wrote whole, and a partner whose list leaves it out (a partial page)
    harness = Harness()
    harness.partner = ListingPartner(lambda units: [u for u in units if u["id"] != "ADAM-12"])
    harness.partner.clock = harness.clock
    harness.run(record("m0", message("w0", change("ADAM-12", 0, status="10-8", **FULL))))
    assert harness.partner.unit("ADAM-12") == {**FULL, "status": "10-8"}
    # When a change of its status comes
    failed = harness.run(record("m1", message("w1", change("ADAM-12", 5, status="10-6"), received=5)))
    # Then the PUT carries every value the relay knows, not the status alone
    assert failed == set()
    assert harness.partner.puts()[-1] == {"id": "ADAM-12", **FULL, "status": "10-6"}
    assert harness.partner.unit("ADAM-12") == {**FULL, "status": "10-6"}


def test_consumer_a_dispatchers_value_the_relay_saw_survives_a_list_that_leaves_the_unit_out() -> None:
    # Given a unit the relay wrote, then a dispatcher's rank the relay saw on its next read
    harness = Harness()
    pages = {"partial": False}
    harness.partner = ListingPartner(
        lambda units: [u for u in units if not pages["partial"] or u["id"] != "ADAM-12"]
    )
    harness.partner.clock = harness.clock
    harness.run(record("m0", message("w0", change("ADAM-12", 0, status="10-8", officer_name="A"))))
    harness.clock.advance(10)
    harness.partner.edit("ADAM-12", rank="SGT")
    harness.clock.advance(10)
    harness.run(record("m1", message("w1", change("ADAM-12", 15, status="10-7"), received=15)))
    assert harness.stored("ADAM-12").field("rank").base is not None
    # When the list next leaves the unit out and its status changes again
    pages["partial"] = True
    harness.run(record("m2", message("w2", change("ADAM-12", 30, status="10-6"), received=30)))
    # Then the rank the relay saw is written with it, and its own officer_name too
    assert harness.partner.unit("ADAM-12") == {
        **dict.fromkeys(UNIT_FIELDS, ""),
        "officer_name": "A",
        "rank": "SGT",
        "status": "10-6",
    }


def test_consumer_a_unit_the_relay_never_knew_is_created_with_the_fields_a_change_sets() -> None:
    harness = Harness()
    harness.run(record("m1", message("w1", change("NEW-1", 1, status="10-8"))))
    assert harness.partner.puts() == [{"id": "NEW-1", "status": "10-8"}]


# ------------------------------------------------------------------ ids, as the list gives them


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


@pytest.mark.parametrize(
    ("listed", "changed"),
    [("adam-12", "ADAM-12"), ("ADAM-12", "adam-12"), (" Adam  12 ", "ADAM 12"), (nfd("ÉLAN-1"), "ÉLAN-1")],
    ids=["lower-listed", "upper-listed", "blanks", "nfd-listed-nfc-changed"],
)
def test_consumer_a_listed_id_spelled_otherwise_is_the_same_unit(listed: str, changed: str) -> None:
    # Given a unit a dispatcher created, spelled as the list gives it
    harness = Harness()
    harness.partner.edit(listed.strip(), officer_name="Keep Me", rank="PO")
    # When a source speaks of it with another spelling
    failed = harness.run(record("m1", message("w1", change(changed, 1, status="10-8"))))
    # Then the partner's own unit is written, in the partner's spelling, its other fields kept
    assert failed == set()
    assert [u["id"] for u in harness.partner.puts()] == [listed.strip()]
    assert harness.partner.unit(listed.strip()) == {
        **dict.fromkeys(UNIT_FIELDS, ""),
        "officer_name": "Keep Me",
        "rank": "PO",
        "status": "10-8",
    }
    assert len(harness.partner.units) == 1


def test_consumer_exact_ids_opt_out_of_the_canonical_form_at_the_list_too() -> None:
    harness = Harness()
    harness.policy = UnitPolicy(default=UnitRules(ids="exact"))
    harness.partner.edit("adam-12", officer_name="Keep Me")
    harness.run(record("m1", message("w1", change("ADAM-12", 1, status="10-8"))))
    assert harness.partner.puts() == [{"id": "ADAM-12", "status": "10-8"}]
    assert harness.partner.unit("adam-12")["officer_name"] == "Keep Me"


def test_the_reader_keeps_each_spelling_the_partner_lists() -> None:
    # Ids that differ by case or normalisation are two records to the partner: the reader keeps both
    # (the consumer decides which one a change is about, relay.consumer.policy.canonical_id).
    units = read_unit_list([unit("adam-12"), unit("ADAM-12"), unit(nfd("ÉLAN-1")), unit("ÉLAN-1")])
    assert sorted(units) == sorted(["adam-12", "ADAM-12", nfd("ÉLAN-1"), "ÉLAN-1"])


def test_consumer_two_listed_spellings_of_one_unit_neither_is_blanked() -> None:
    # Given a partner holding "adam-12" and, written later, "ADAM-12" (made before ids were compared so)
    harness = Harness()
    harness.partner.edit("adam-12", officer_name="Old", rank="PO")
    harness.clock.advance(5)
    harness.partner.edit("ADAM-12", officer_name="New", rank="SGT")
    # When a change speaks of the unit
    failed = harness.run(record("m1", message("w1", change("Adam-12", 1, status="10-8"))))
    # Then the one written last takes it, whole, and the other is left as it was
    assert failed == set()
    assert [u["id"] for u in harness.partner.puts()] == ["ADAM-12"]
    assert harness.partner.unit("ADAM-12")["officer_name"] == "New"
    assert harness.partner.unit("adam-12") == {
        **dict.fromkeys(UNIT_FIELDS, ""),
        "officer_name": "Old",
        "rank": "PO",
    }


# ------------------------------------------------------------------ any list answer at all

JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def odd_lists(draw: st.DrawFn) -> Any:
    """The honest list answer, mangled the ways a partner might: entries dropped, duplicated or replaced
    by junk, keys removed, values of any JSON type, or the whole answer replaced."""
    choice = draw(st.sampled_from(["entries", "keys", "values", "whole"]))
    return choice, draw(JSON_VALUES), draw(st.sampled_from([*UNIT_FIELDS, "id", "updated_at"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mangling=odd_lists(), drop=st.booleans())
def test_property_no_list_answer_blanks_a_field_the_relay_has_seen(mangling: Any, drop: bool) -> None:
    # Given a unit whose every field a dispatcher set, which the relay has read once, and a partner whose
    # list answer is then mangled (a unit the relay has never seen, left out of a list it can read, is
    # created bare: nothing tells it from a new one; docs/consumer.md says so)
    choice, junk, key = mangling

    def listing(units: list[dict[str, Any]]) -> Any:
        if choice == "whole":
            return junk
        if choice == "entries":
            return [*([] if drop else units), junk, *units]
        mangled = [dict(u) for u in units]
        for unit in mangled:
            if choice == "keys":
                unit.pop(key, None)
            else:
                unit[key] = junk
        return mangled

    mangled = {"on": False}
    harness = Harness()
    harness.partner = ListingPartner(
        lambda units: listing(units) if mangled["on"] else units, clock=harness.clock
    )
    harness.partner.edit("U-1", **{**FULL, "status": "10-6"})
    harness.run(record("m0", message("w0", change("U-1", 0, status="10-7"))))  # the relay has seen it
    # When a change of its status arrives and the list is mangled
    mangled["on"] = True
    harness.run(record("m1", message("w1", change("U-1", 1, status="10-8"))))
    # Then whatever was written, no field the dispatcher set was blanked, and no null was ever sent
    held = harness.partner.unit("U-1")
    assert all(held[name] for name in FULL), (choice, junk, key, held)
    assert harness.partner.violations == []
