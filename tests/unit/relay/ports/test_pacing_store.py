"""The partner's shared schedule: DynamoDB (moto, in-process) and memory keep the same contract. A
reservation's wait is the GCRA's: `burst` at once, then one each interval; a wait past what the caller
can wait takes nothing; a hold pushes every caller back; throttled answers are counted per window."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from relay.aws.pacing import DynamoSlotStore
from relay.errors import PacingUnavailableError
from relay.memory import InMemorySlotStore
from relay.ports.pacing import SlotStore
from tests.support.aws import create_unit_state_table

TABLE = "unit-state"
T0 = 1_764_331_200.0  # NOW in epoch seconds
INTERVAL = 0.5  # 2 a second
TOLERANCE = 2 * INTERVAL  # bursts of 3


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_unit_state_table(client, TABLE)
        yield client


@pytest.fixture(params=["memory", "dynamodb", "dynamodb-other-container"])
def stores(request: pytest.FixtureRequest) -> tuple[SlotStore, SlotStore]:
    """Two handles on one schedule (two containers); the memory twin is one object."""
    if request.param == "memory":
        store = InMemorySlotStore()
        return store, store
    client = request.getfixturevalue("dynamodb")
    first = DynamoSlotStore(TABLE, client)
    return first, DynamoSlotStore(TABLE, client) if request.param.endswith("container") else first


def test_pacing_a_burst_goes_at_once_then_one_each_interval(stores: tuple[SlotStore, SlotStore]) -> None:
    a, b = stores
    # When six calls at one instant reserve, alternately from two containers
    waits = [(a if i % 2 else b).reserve(lambda: T0, INTERVAL, TOLERANCE, max_wait=60) for i in range(6)]
    # Then the burst of three goes now, and each next one an interval later
    assert waits == [0.0, 0.0, 0.0, 0.5, 1.0, 1.5]


def test_pacing_an_idle_schedule_refills(stores: tuple[SlotStore, SlotStore]) -> None:
    a, b = stores
    for _ in range(4):
        a.reserve(lambda: T0, INTERVAL, TOLERANCE, max_wait=60)
    # Ten seconds later the schedule is in the past: the next burst goes at once
    assert [b.reserve(lambda: T0 + 10, INTERVAL, TOLERANCE, max_wait=60) for _ in range(3)] == [0.0, 0.0, 0.0]


def test_pacing_a_wait_past_the_budget_takes_no_slot(stores: tuple[SlotStore, SlotStore]) -> None:
    a, b = stores
    for _ in range(5):
        a.reserve(lambda: T0, INTERVAL, TOLERANCE, max_wait=60)  # the schedule is now 1.5 s past the burst
    # When a caller that can wait 0.5 s asks, it is told the wait, and takes nothing
    assert b.reserve(lambda: T0, INTERVAL, TOLERANCE, max_wait=0.5) == pytest.approx(1.5)
    # Then the next caller gets that slot
    assert a.reserve(lambda: T0, INTERVAL, TOLERANCE, max_wait=60) == pytest.approx(1.5)


def test_pacing_a_hold_pushes_every_caller_back(stores: tuple[SlotStore, SlotStore]) -> None:
    a, b = stores
    # Given a partner that said to wait 30 s (the hold adds the burst's tolerance)
    a.hold_until(T0 + 30 + TOLERANCE)
    # Then the first calls wait the 30 s, then pace on from there
    assert b.reserve(lambda: T0, INTERVAL, TOLERANCE, max_wait=60) == pytest.approx(30.0)
    # and a shorter hold never pulls the schedule back
    a.hold_until(T0 + 1)
    assert b.reserve(lambda: T0, INTERVAL, TOLERANCE, max_wait=60) == pytest.approx(30.5)


def test_pacing_throttled_answers_are_counted_per_window(stores: tuple[SlotStore, SlotStore]) -> None:
    a, b = stores
    assert [a.count_throttle(T0, 300), b.count_throttle(T0 + 10, 300), a.count_throttle(T0 + 20, 300)] == [
        1,
        2,
        3,
    ]
    assert b.count_throttle(T0 + 300, 300) == 1  # the next window starts again


def test_pacing_dynamodb_item_layout(dynamodb: Any) -> None:
    DynamoSlotStore(TABLE, dynamodb).reserve(lambda: T0, INTERVAL, TOLERANCE, max_wait=60)
    [item] = dynamodb.scan(TableName=TABLE)["Items"]
    assert (item["pk"]["S"], item["sk"]["S"]) == ("pace#northca", "slots")
    assert float(item["tat"]["N"]) == T0 + INTERVAL and int(item["expires_at"]["N"]) == int(T0) + 86400


def test_pacing_dynamodb_outage_is_a_typed_error() -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")  # no table
        with pytest.raises(PacingUnavailableError, match="ResourceNotFoundException"):
            DynamoSlotStore("missing", client).reserve(lambda: T0, INTERVAL, TOLERANCE, max_wait=60)


def test_pacing_a_wider_tolerance_goes_ahead_of_a_backlog_and_pushes_it(
    stores: tuple[SlotStore, SlotStore],
) -> None:
    a, b = stores
    # Given six unit calls at one instant: the burst of three, then 0.5, 1.0, 1.5 s
    for _ in range(6):
        a.reserve(lambda: T0, INTERVAL, TOLERANCE, max_wait=60)
    # When a panic reserves with four slots more of tolerance (urgent: relay.northca.pacing)
    urgent = TOLERANCE + 4 * INTERVAL
    assert b.reserve(lambda: T0, INTERVAL, urgent, max_wait=60) == 0.0
    # Then the next unit waits behind it too: the schedule moved one slot (2.5 s, not 2.0 s)
    assert a.reserve(lambda: T0, INTERVAL, TOLERANCE, max_wait=60) == pytest.approx(2.5)
    # and urgent calls wait once the schedule runs past their four slots (4.0 s ahead, 3.0 s of tolerance)
    assert [b.reserve(lambda: T0, INTERVAL, urgent, max_wait=60) for _ in range(3)] == pytest.approx(
        [1.0, 1.5, 2.0]
    )


def test_pacing_mixed_tolerances_keep_the_cap_plus_the_urgent_calls(
    stores: tuple[SlotStore, SlotStore],
) -> None:
    # Given units and urgent calls reserving over 20 s (2 a second, bursts of 3, urgent 4 slots more),
    # each sent when its wait is over
    a, b = stores
    urgent_slots, sends, urgent_sends = 4, [], []
    for step in range(80):
        now = T0 + step * 0.25
        is_urgent = step % 7 == 3
        tolerance = TOLERANCE + urgent_slots * INTERVAL if is_urgent else TOLERANCE
        wait = (b if is_urgent else a).reserve(lambda now=now: now, INTERVAL, tolerance, max_wait=60)
        (urgent_sends if is_urgent else sends).append(now + wait)
    # Then in every one-second window the calls sent are at most the cap (rate + burst) plus the urgent
    # calls sent in it, and never more than the cap plus the urgent slots
    every = sorted(sends + urgent_sends)
    for start in every:
        inside = sum(start <= s < start + 1.0 for s in every)
        urgent_inside = sum(start <= s < start + 1.0 for s in urgent_sends)
        assert inside <= 2 + 3 + min(urgent_inside, urgent_slots), start
