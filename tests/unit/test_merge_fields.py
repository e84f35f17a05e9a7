"""`merged_fields`: a batch's stamps merged into stored ones, field by field; None when nothing is newer."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from relay.consumer.merge import FieldStamp, merged_fields
from relay.models import UNIT_FIELDS
from tests.support.constants import NOW


def stamped(value: str | None, seconds: int, tiebreak: str = "t") -> FieldStamp:
    return FieldStamp(value=value, at=NOW + timedelta(seconds=seconds), tiebreak=tiebreak)


def test_merge_fields_takes_only_newer_stamps_and_keeps_the_rest() -> None:
    stored = {"status": stamped("10-8", 5), "rank": stamped("PO", 5)}
    incoming = {"status": stamped("10-6", 9), "rank": stamped("SGT", 1), "department": stamped("Patrol", 0)}
    assert merged_fields(stored, incoming) == {
        "status": stamped("10-6", 9),
        "rank": stamped("PO", 5),
        "department": stamped("Patrol", 0),
    }


def test_merge_fields_nothing_newer_is_none() -> None:
    stored = {"status": stamped("10-8", 5)}
    assert merged_fields(stored, {"status": stamped("10-7", 4)}) is None
    assert merged_fields(stored, dict(stored)) is None  # a duplicate


def real_stamp(value: str | None, seconds: int, source: str) -> FieldStamp:
    # As relay.merge.stamp does, the tie-break ends with the value: equal keys mean equal values.
    return stamped(value, seconds, f"{source}|{value}")


stamps = st.dictionaries(
    st.sampled_from(UNIT_FIELDS),
    st.builds(real_stamp, st.sampled_from(["a", "b", None]), st.integers(0, 5), st.sampled_from(["x", "y"])),
)


@given(stored=stamps, first=stamps, second=stamps)
def test_merge_fields_order_of_batches_does_not_matter(
    stored: dict[str, FieldStamp], first: dict[str, FieldStamp], second: dict[str, FieldStamp]
) -> None:
    def apply(base: dict[str, FieldStamp], *batches: dict[str, FieldStamp]) -> dict[str, FieldStamp]:
        for batch in batches:
            base = merged_fields(base, batch) or base
        return base

    assert apply(stored, first, second) == apply(stored, second, first)
    assert apply(stored, first, first) == apply(stored, first)
