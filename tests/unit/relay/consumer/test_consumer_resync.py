"""`relay resync`'s messages through the real consumer: a wiped MDT put back whole, every listed unit
left to its other writers, nothing written blind, and the dry run saying it first."""

from __future__ import annotations

from datetime import timedelta

from relay.consumer.policy import UnitPolicy
from relay.consumer.preview import preview, resync_messages
from relay.consumer.unit_state import UnitKey
from relay.errors import NorthcaNotFoundError
from relay.messages import RESYNC_SOURCE
from tests.support.constants import GUILD, MDT
from tests.support.consumer import FULL, Harness, change, message, record

KEYS = [UnitKey(MDT, GUILD, "ADAM-12"), UnitKey(MDT, GUILD, "T-1")]


def known_world() -> Harness:
    """Two units the relay wrote whole, then a dispatcher renamed one of them."""
    h = Harness()
    h.run(
        record(
            "1", message("w1", change("ADAM-12", 1, status="10-8", **FULL), change("T-1", 2, status="10-6"))
        )
    )
    h.partner.edit("T-1", officer_name="Dispatcher's name")
    h.run(record("2", message("w2", change("T-1", 3, status="10-8"))))  # the relay sees the rename
    return h


def resync(h: Harness, source: str | None = None) -> set[str]:
    states = list(h.state.read_many(KEYS).values())
    messages = resync_messages(states, h.clock(), source=source)
    return h.run(*[record(f"r{i}", m) for i, m in enumerate(messages)])


def test_resync_puts_a_wiped_mdt_back_with_every_value_the_relay_knows() -> None:
    # Given two units the relay knows, one renamed by a dispatcher, then Northca loses the MDT
    h = known_world()
    h.partner.units.clear()
    # When the resync runs
    assert resync(h) == set()
    # Then both units are back whole, the dispatcher's name included (a value the relay saw)
    assert h.partner.unit("ADAM-12") == {**FULL, "status": "10-8"}
    assert h.partner.unit("T-1")["officer_name"] == "Dispatcher's name"
    assert h.partner.unit("T-1")["status"] == "10-8"


def test_resync_leaves_a_listed_unit_to_another_writers_newer_edit() -> None:
    # Given a dispatcher who changed a status after the relay's last write
    h = known_world()
    h.clock.advance(10)
    h.partner.edit("ADAM-12", status="10-97")
    puts = len(h.partner.requests)
    # When the resync runs
    resync(h)
    # Then nothing is written: the edit is newer than anything the relay knows
    assert h.partner.unit("ADAM-12")["status"] == "10-97"
    assert len(h.partner.requests) == puts


def test_resync_of_one_source_only_takes_the_units_it_spoke_of() -> None:
    # Given the MDT wiped, and a resync of another source
    h = known_world()
    h.partner.units.clear()
    resync(h, source="forms")
    # Then nothing comes back: cad spoke of both units, forms of none
    assert h.partner.units == {}
    resync(h, source="cad")
    assert {unit for _, unit in h.partner.units} == {"ADAM-12", "T-1"}


def test_resync_writes_nothing_where_the_partner_has_no_list() -> None:
    # Given a partner without a list endpoint (the relay cannot see what is missing)
    h = known_world()
    h.partner.units.clear()
    h.partner.list_script = [NorthcaNotFoundError("no list", 404)] * 3
    resync(h)
    # Then it does not write blind
    assert h.partner.units == {}


def test_resync_messages_are_empty_changes_from_the_resync_source() -> None:
    h = known_world()
    states = list(h.state.read_many(KEYS).values())
    [msg] = resync_messages(states, h.clock())
    assert msg.source == RESYNC_SOURCE and msg.webhook_id is not None and msg.webhook_id.startswith("resync:")
    assert [(c.id, c.fields) for c in msg.changes] == [("ADAM-12", {}), ("T-1", {})]


def test_resync_dry_run_names_each_unit_it_would_create() -> None:
    # Given a wiped MDT
    h = known_world()
    h.partner.units.clear()
    states = h.state.read_many(KEYS)
    messages = resync_messages(list(states.values()), h.clock())
    # When the dry run plans the resync
    rows = preview(
        messages,
        states,
        {(MDT, GUILD): h.partner.list_units(MDT, GUILD)},
        policy=UnitPolicy(),
        window=timedelta(seconds=300),
        skew=timedelta(seconds=300),
        now=h.clock(),
    )
    # Then it says both would be created, with their values
    assert [(r.unit_id, r.action) for r in rows] == [("ADAM-12", "create"), ("T-1", "create")]
    assert rows[0].changes["status"] == ("", "10-8")
    assert rows[1].fields["officer_name"] == "reasserted"
