"""The state port on DynamoDB (moto) and in memory: same contract, TTL honoured, failures typed."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from relay.aws.dynamodb import DynamoSourceStateStore
from relay.errors import SourceStateUnavailableError
from relay.memory import InMemorySourceStateStore
from tests.support.aws import create_unit_state_table
from tests.support.clocks import FixedClock


@pytest.fixture
def dynamodb(aws: dict[str, Any]) -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_unit_state_table(client, "unit-state")
    return client


@pytest.fixture(params=["dynamodb", "memory"])
def store_and_clock(request: pytest.FixtureRequest) -> tuple[Any, FixedClock]:
    clock = FixedClock()
    if request.param == "memory":
        return InMemorySourceStateStore(clock=clock), clock
    return DynamoSourceStateStore("unit-state", request.getfixturevalue("dynamodb"), clock=clock), clock


def test_state_put_get_delete_round_trip_json(store_and_clock: tuple[Any, FixedClock]) -> None:
    store, _ = store_and_clock
    value = {"1234": {"unit_id": "1A-12", "ratio": 0.5, "tags": ["a"], "none": None}}
    store.put("roster#main", "players", value)
    assert store.get("roster#main", "players") == value
    assert store.get("roster#main", "other") is None
    store.delete("roster#main", "players")
    assert store.get("roster#main", "players") is None


def test_state_an_expired_item_reads_as_absent(store_and_clock: tuple[Any, FixedClock]) -> None:
    # Given an item with a 60 s TTL (DynamoDB may keep it for hours after that)
    store, clock = store_and_clock
    store.put("cache#sonoran", "ident#17", {"id": "A-10"}, ttl_seconds=60)
    clock.advance(59)
    assert store.get("cache#sonoran", "ident#17") == {"id": "A-10"}
    # When the TTL has passed, then it reads as absent
    clock.advance(2)
    assert store.get("cache#sonoran", "ident#17") is None


def test_state_the_item_carries_the_ttl_attribute(dynamodb: Any) -> None:
    clock = FixedClock()
    DynamoSourceStateStore("unit-state", dynamodb, clock=clock).put(
        "roster#main", "players", {}, ttl_seconds=100
    )
    item = dynamodb.get_item(TableName="unit-state", Key={"pk": {"S": "roster#main"}, "sk": {"S": "players"}})
    assert item["Item"]["expires_at"] == {"N": str(int(clock.now.timestamp()) + 100)}


def test_state_a_missing_table_is_state_unavailable(aws: dict[str, Any]) -> None:
    store = DynamoSourceStateStore("no-such-table", boto3.client("dynamodb", region_name="us-east-1"))
    for call in (lambda: store.get("a", "b"), lambda: store.put("a", "b", 1), lambda: store.delete("a", "b")):
        with pytest.raises(SourceStateUnavailableError) as caught:
            call()
        assert caught.value.status == 503
