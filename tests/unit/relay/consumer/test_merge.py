from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from relay.consumer.merge import merge_messages
from relay.messages import QueueMessage
from relay.models import UNIT_FIELDS, UnitChange
from tests.support.constants import GUILD, MDT, NOW


def message(
    webhook_id: str, changes: list[UnitChange], mdt: str = MDT, received_offset: int = 0
) -> QueueMessage:
    return QueueMessage(
        source="cad",
        mdt_id=mdt,
        guild_id=GUILD,
        webhook_id=webhook_id,
        received_at=NOW + timedelta(seconds=received_offset),
        changes=changes,
    )


def change(unit: str, seconds: int, **fields: str | None) -> UnitChange:
    return UnitChange(id=unit, at=NOW + timedelta(seconds=seconds), fields=fields)


def test_merge_newest_value_wins_per_field_not_per_message() -> None:
    # Given a newer status-only change and an older full record, arriving newest first
    newer = message("w2", [change("ADAM-12", 10, status="10-6")])
    older = message("w1", [change("ADAM-12", 5, officer_name="B. Bubbleton", status="10-8")])
    # When merged
    groups = merge_messages([("m2", newer), ("m1", older)])
    # Then each field holds its newest value and both messages are behind the unit
    unit = groups[(MDT, GUILD)].units["ADAM-12"]
    assert unit.values() == {"officer_name": "B. Bubbleton", "status": "10-6"}
    assert unit.message_ids == {"m1", "m2"}


def test_merge_groups_by_mdt_and_never_repeats_a_unit_id() -> None:
    groups = merge_messages(
        [
            ("m1", message("w1", [change("A", 1, status="1"), change("A", 2, status="2")])),
            ("m2", message("w2", [change("A", 3, status="3")], mdt="other-mdt")),
        ]
    )
    assert set(groups) == {(MDT, GUILD), ("other-mdt", GUILD)}
    assert groups[(MDT, GUILD)].units["A"].values()["status"] == "2"


def test_merge_ties_on_event_time_are_broken_the_same_way_in_any_order() -> None:
    a = message("w-a", [change("A", 1, status="10-8")])
    b = message("w-b", [change("A", 1, status="10-7")])
    first = merge_messages([("1", a), ("2", b)])[(MDT, GUILD)].units["A"].values()
    second = merge_messages([("2", b), ("1", a)])[(MDT, GUILD)].units["A"].values()
    assert first == second


field_values = st.one_of(st.none(), st.sampled_from(["10-8", "10-7", "10-6", "Patrol", "PO", ""]))
changes_strategy = st.lists(
    st.tuples(
        st.sampled_from(["A", "B", "C"]),
        st.integers(0, 20),
        st.dictionaries(st.sampled_from(UNIT_FIELDS), field_values, max_size=3),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(changes_strategy, st.randoms(use_true_random=False))
def test_merge_result_is_independent_of_order_and_duplication(raw: list, rng: random.Random) -> None:
    # Given a stream of changes as messages
    messages = [(f"m{i}", message(f"w{i}", [change(u, t, **f)])) for i, (u, t, f) in enumerate(raw)]
    # When delivered shuffled and with duplicates
    delivered = messages + rng.sample(messages, k=len(messages) // 2)
    rng.shuffle(delivered)
    expected = merge_messages(messages)
    actual = merge_messages(delivered)
    # Then the merged records are identical
    assert {u: x.values() for u, x in actual[(MDT, GUILD)].units.items()} == {
        u: x.values() for u, x in expected[(MDT, GUILD)].units.items()
    }
    # And each field equals the value of the newest change that carried it
    for unit_id, unit in actual[(MDT, GUILD)].units.items():
        for name in UNIT_FIELDS:
            carriers = [(t, i, f[name]) for i, (u, t, f) in enumerate(raw) if u == unit_id and name in f]
            if not carriers:
                assert name not in unit.fields
            else:
                newest_time = max(t for t, _, _ in carriers)
                assert unit.fields[name].value in {v for t, _, v in carriers if t == newest_time}


def test_merge_within_one_request_the_later_entry_wins_whatever_the_values() -> None:
    for values, expected in (
        [("10-8", "10-7"), "10-7"],
        [("10-7", "10-8"), "10-8"],
        [(None, "x"), "x"],
        [("x", None), None],
    ):
        request = message("w1", [change("A", 1, status=v) for v in values])
        assert merge_messages([("m1", request)])[(MDT, GUILD)].units["A"].values()["status"] == expected


def test_merge_the_position_survives_a_request_split_over_several_messages() -> None:
    from relay.messages import split_messages

    # Given one request with two entries for A, split so that they travel in different messages
    request = message("w1", [change("A", 1, status="first"), change("A", 1, status="second")])
    pieces = split_messages(request, max_bytes=len(request.body()) - 1)
    assert [p.offset for p in pieces] == [0, 1]
    # When the pieces arrive in any order, then the later entry of the request wins
    for order in (pieces, pieces[::-1]):
        merged = merge_messages([(f"m{i}", p) for i, p in enumerate(order)])
        assert merged[(MDT, GUILD)].units["A"].values()["status"] == "second"


def test_merge_clamps_an_event_time_later_than_the_receive_time_plus_the_skew() -> None:
    future = message("w1", [change("A", 10_000, status="10-8")])  # received at NOW, dated NOW + 2.8 h
    soon = message("w2", [change("B", 200, status="10-8")])  # within a 5-minute skew
    groups = merge_messages([("m1", future), ("m2", soon)], max_event_skew=timedelta(minutes=5))
    batch = groups[(MDT, GUILD)]
    assert batch.units["A"].fields["status"].at == NOW
    assert batch.units["B"].fields["status"].at == NOW + timedelta(seconds=200)
    assert [(c.unit_id, c.source, c.webhook_id) for c in batch.clamps] == [("A", "cad", "w1")]
