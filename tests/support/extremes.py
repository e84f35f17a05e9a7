"""Hypothesis strategies for values at the extremes, and for real-shaped bodies carrying them: the net
for what nobody listed (issue #10, item 20). Times at both ends of datetime's range in any offset,
epochs far beyond any date and below zero, control, format and unassigned characters, long ids, and
arrays as large as a body may hold."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from tests.support.adapters import Path

# Offsets up to a day either way, as an ISO 8601 text can carry them.
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# Within a day of either end of datetime's range, in an offset that takes its UTC form beyond it.
beyond_utc = st.one_of(
    st.builds(
        lambda back, offset: (datetime.max - timedelta(minutes=back)).replace(
            tzinfo=timezone(timedelta(minutes=-offset))
        ),
        st.integers(min_value=0, max_value=24 * 60),
        st.integers(min_value=1, max_value=24 * 60 - 1),
    ),
    st.builds(
        lambda forward, offset: (datetime.min + timedelta(minutes=forward)).replace(
            tzinfo=timezone(timedelta(minutes=offset))
        ),
        st.integers(min_value=0, max_value=24 * 60),
        st.integers(min_value=1, max_value=24 * 60 - 1),
    ),
)
edge_datetimes = st.one_of(
    beyond_utc,
    st.datetimes(min_value=datetime(9999, 12, 30), timezones=offsets | st.just(UTC) | st.none()),
    st.datetimes(max_value=datetime(1, 1, 2), timezones=offsets | st.just(UTC) | st.none()),
    st.datetimes(timezones=offsets | st.none()),
)
times = st.one_of(
    edge_datetimes.map(lambda value: value.isoformat()),
    st.sampled_from(
        ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.999999Z"]
    ),
)
epochs = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.integers(min_value=10**20, max_value=10**400),
    st.integers(min_value=-(10**400), max_value=-(10**20)),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=10**400).map(str),
    st.sampled_from(["1" + "0" * 400, "99999999999999999999.5"]),
)
# Control, format, surrogate (JSON escapes), unassigned, private-use and separator characters.
odd_characters = st.characters(categories=["Cc", "Cf", "Cs", "Cn", "Co", "Zs", "Zl", "Zp"])
odd_texts = st.one_of(
    st.text(odd_characters, max_size=8),
    st.tuples(
        st.text(odd_characters, max_size=3),
        st.text(min_size=1, max_size=10),
        st.text(odd_characters, max_size=3),
    ).map("".join),
    st.text(min_size=60, max_size=2000),  # long ids
    st.integers(min_value=60, max_value=20_000).map(lambda n: "7" * n),
)
leaves = st.one_of(times, epochs, odd_texts, st.none(), st.booleans(), st.text(max_size=20))
# As many elements as a 256 KiB body may hold, and more.
big_lengths = st.integers(min_value=0, max_value=30_000)
MAX_GROWN_BYTES = 300 * 1024


def paths_of(value: Any, path: Path = ()) -> tuple[list[Path], list[Path]]:
    """(every leaf's path, every list's path) in a JSON value."""
    leaves_found: list[Path] = []
    lists_found: list[Path] = []
    if isinstance(value, dict):
        items: list[tuple[str | int, Any]] = list(value.items())
    elif isinstance(value, list):
        lists_found.append(path)
        items = list(enumerate(value))
    else:
        return [path], []
    for key, child in items:
        child_leaves, child_lists = paths_of(child, (*path, key))
        leaves_found += child_leaves
        lists_found += child_lists
    return leaves_found, lists_found


def _put(body: Any, path: Path, value: Any) -> Any:
    """`body` with `value` at `path`; unchanged when an earlier change took the path away."""
    if not path:
        return value
    target = body
    try:
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass
    return body


@st.composite
def extreme_bodies(draw: st.DrawFn, body: dict[str, Any], places: list[Path]) -> dict[str, Any]:
    """`body` with extreme values in some of `places` (where the adapter reads what a sender controls)
    and in some other leaves, and perhaps one list grown to an extreme length."""
    changed = copy.deepcopy(body)
    leaf_paths, list_paths = paths_of(changed)
    chosen = draw(st.lists(st.sampled_from(places), min_size=1, max_size=3))
    chosen += draw(st.lists(st.sampled_from(leaf_paths), max_size=2))
    for path in chosen:
        changed = _put(changed, path, draw(leaves))
    _, list_paths = paths_of(changed)
    if list_paths and draw(st.booleans()):
        path = draw(st.sampled_from(list_paths))
        target: Any = changed
        for key in path:
            target = target[key]  # paths_of found it in `changed` as it is now
        length = draw(big_lengths)
        if draw(st.booleans()) or not target:
            grown: list[Any] = list(range(length))
        else:
            # Copies of the first element, up to a little over the body limit (more is a 413 anyway).
            length = min(length, MAX_GROWN_BYTES // max(1, len(json.dumps(target[0]))))
            grown = [target[0]] * length
        changed = _put(changed, path, grown)
    return changed
