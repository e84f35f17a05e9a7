"""The unit-state port: DynamoDB (moto, in-process) and memory keep the same conditional-write contract."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from relay.aws.dynamodb import DynamoUnitStateStore
from relay.consumer.merge import FieldStamp
from relay.consumer.unit_state import UnitKey
from relay.errors import UnitStateUnavailableError
from relay.memory import InMemoryUnitStateStore
from relay.ports import UnitStateStore
from tests.support.aws import create_unit_state_table
from tests.support.clocks import FixedClock
from tests.support.constants import GUILD, MDT, NOW

TABLE = "unit-state"
KEY = UnitKey(MDT, GUILD, "ADAM-12")


def stamped(value: str | None, seconds: int = 0) -> FieldStamp:
    return FieldStamp(value=value, at=NOW + timedelta(seconds=seconds), tiebreak=f"t|{value}")


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_unit_state_table(client, TABLE)
        yield client


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> UnitStateStore:
    if request.param == "memory":
        return InMemoryUnitStateStore()
    client = request.getfixturevalue("dynamodb")
    return DynamoUnitStateStore(TABLE, client, clock=FixedClock())


def test_state_absent_unit_reads_as_version_zero(store: UnitStateStore) -> None:
    state = store.read_many([KEY])[KEY]
    assert (state.version, state.sent_version, dict(state.fields)) == (0, 0, {})


def test_state_write_round_trips_values_nulls_and_stamps(store: UnitStateStore) -> None:
    # Given fields with a value, a cleared value and an empty string
    fields = {"status": stamped("10-8", 3), "rank": stamped(None, 1), "department": stamped("", 2)}
    # When written on an absent unit
    assert store.write_fields(KEY, fields, expected_version=0) == 1
    # Then they read back exactly, at version 1, unsent
    state = store.read_many([KEY])[KEY]
    assert dict(state.fields) == fields
    assert (state.version, state.sent_version, state.unsent) == (1, 0, True)
    assert state.record()["status"] == "10-8"


def test_state_write_loses_against_a_newer_version(store: UnitStateStore) -> None:
    # Given two writers that both read version 0
    assert store.write_fields(KEY, {"status": stamped("a")}, 0) == 1
    # When the second writes with what it read, then it is refused and the first value stays
    assert store.write_fields(KEY, {"status": stamped("b")}, 0) is None
    assert store.write_fields(KEY, {"status": stamped("c")}, 5) is None
    assert store.read_many([KEY])[KEY].fields["status"].value == "a"


def test_state_mark_sent_only_for_the_current_version(store: UnitStateStore) -> None:
    store.write_fields(KEY, {"status": stamped("a")}, 0)
    store.write_fields(KEY, {"status": stamped("b")}, 1)
    # When a consumer that PUT version 1 marks it sent, then it is refused: version 2 exists
    assert store.mark_sent(KEY, 1) is False
    assert store.mark_sent(KEY, 2) is True
    state = store.read_many([KEY])[KEY]
    assert (state.version, state.sent_version, state.unsent) == (2, 2, False)


def test_state_mark_dirty_bumps_the_version_and_keeps_the_content(store: UnitStateStore) -> None:
    store.write_fields(KEY, {"status": stamped("a")}, 0)
    store.mark_sent(KEY, 1)
    store.mark_dirty(KEY)
    state = store.read_many([KEY])[KEY]
    assert (state.version, state.sent_version, state.unsent) == (2, 1, True)
    assert state.fields["status"].value == "a"
    # And marking an absent unit dirty creates nothing
    other = UnitKey(MDT, GUILD, "NONE")
    store.mark_dirty(other)
    assert store.read_many([other])[other].version == 0


def test_state_reads_many_units_across_batch_get_pages(store: UnitStateStore) -> None:
    keys = [UnitKey(MDT, GUILD, f"U{i:03d}") for i in range(250)]
    for key in keys[::2]:
        store.write_fields(key, {"status": stamped(key.unit_id)}, 0)
    states = store.read_many(keys)
    assert len(states) == 250
    assert all(states[k].version == (1 if i % 2 == 0 else 0) for i, k in enumerate(keys))
    assert states[keys[4]].fields["status"].value == "U004"


def test_state_dynamodb_item_layout_and_ttl(dynamodb: Any) -> None:
    # Given a store whose TTL is 3 days
    store = DynamoUnitStateStore(TABLE, dynamodb, ttl_days=3, clock=FixedClock())
    store.write_fields(KEY, {"status": stamped("10-8")}, 0)
    # Then the item lives under the unit# prefix, beside other parts' roster#/cache# items
    item = dynamodb.get_item(
        TableName=TABLE, Key={"pk": {"S": f"unit#{MDT}#{GUILD}"}, "sk": {"S": "ADAM-12"}}
    )["Item"]
    assert int(item["expires_at"]["N"]) == int(NOW.timestamp()) + 3 * 86400
    assert item["fields"]["M"]["status"]["M"]["value"] == {"S": "10-8"}


def test_state_dynamodb_outage_is_a_typed_error() -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")  # no table: every call fails
        store = DynamoUnitStateStore(TABLE, client)
        with pytest.raises(UnitStateUnavailableError):
            store.read_many([KEY])
        with pytest.raises(UnitStateUnavailableError):
            store.write_fields(KEY, {"status": stamped("a")}, 0)
        with pytest.raises(UnitStateUnavailableError):
            store.mark_sent(KEY, 1)


def test_state_dynamodb_retries_unprocessed_keys_with_backoff(dynamodb: Any) -> None:
    # Given a client that leaves every key unprocessed once
    store = DynamoUnitStateStore(TABLE, dynamodb, sleep=lambda s: sleeps.append(s))
    store.write_fields(KEY, {"status": stamped("a")}, 0)
    sleeps: list[float] = []
    real = dynamodb.batch_get_item
    calls = [0]

    def flaky(**kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            return {"Responses": {TABLE: []}, "UnprocessedKeys": {TABLE: kwargs["RequestItems"][TABLE]}}
        return real(**kwargs)

    store.client = type("Flaky", (), {"batch_get_item": staticmethod(flaky)})()  # type: ignore[assignment]
    # When read, then it asked again after a backoff and got the unit
    assert store.read_many([KEY])[KEY].version == 1
    assert sleeps == [0.1]
