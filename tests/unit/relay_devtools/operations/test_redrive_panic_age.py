"""A dead letter's panic age, read leniently: a dead letter may be anything (another writer's, a body the
ingress never made), and only a body with panics has one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from relay_devtools.operations.redrive import age_text, panic_age

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
SENT_MS = str(int((NOW - timedelta(minutes=30)).timestamp() * 1000))


def letter(body: str) -> dict[str, object]:
    return {"Body": body, "Attributes": {"SentTimestamp": SENT_MS}}


@pytest.mark.parametrize(
    ("body", "age"),
    [
        ('{"panics": [{"unit": "A"}], "received_at": "2026-11-28T12:00:00.000Z"}', timedelta(hours=2)),
        ('{"panics": [{"unit": "A"}], "received_at": "2026-11-28T12:00:00+01:00"}', timedelta(hours=3)),
        ('{"panics": [{"unit": "A"}]}', timedelta(minutes=30)),  # no receive time: the DLQ's
        ('{"panics": [{"unit": "A"}], "received_at": "yesterday"}', timedelta(minutes=30)),
        (
            '{"panics": [{"unit": "A"}], "received_at": "2026-11-28T12:00:00"}',
            timedelta(minutes=30),
        ),  # no zone
        ('{"panics": [{"unit": "A"}], "received_at": "2026-11-28T15:00:00Z"}', timedelta(0)),  # ahead
        (
            '{"panics": [{"unit": "A"}], "changes": [{"id": "B"}], "received_at": "2026-11-28T13:00:00Z"}',
            timedelta(hours=1),
        ),
    ],
)
def test_a_panic_is_as_old_as_its_receive_time(body: str, age: timedelta) -> None:
    assert panic_age(letter(body), NOW) == age


@pytest.mark.parametrize(
    "body",
    ["not json", "[" * 100_000, "[1]", '{"panics": []}', '{"panics": "A"}', '{"calls": [{"key": "1"}]}', ""],
)
def test_a_dead_letter_without_panics_has_no_panic_age(body: str) -> None:
    assert panic_age(letter(body), NOW) is None


def test_ages_read_to_the_unit_an_operator_reads() -> None:
    assert [age_text(timedelta(seconds=s)) for s in (45, 600, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)] == [
        "45s",
        "10m",
        "3h 5m",
        "2d 4h",
    ]
