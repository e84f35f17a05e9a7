"""The unit-state port: DynamoDB (moto, in-process) and memory keep the same conditional-write contract."""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from relay.aws.unit_state import DynamoUnitStateStore
from relay.consumer.merge import FieldStamp
from relay.consumer.unit_state import (
    OUT_OF_TIME,
    Baseline,
    FieldState,
    Heard,
    InMemoryUnitStateStore,
    Sent,
    StateWrite,
    UnitKey,
    UnitStateStore,
    fields_from_json,
    fields_to_json,
)
from relay.errors import UnitStateUnavailableError
from tests.support.aws import create_unit_state_table
from tests.support.clocks import FixedClock
from tests.support.constants import GUILD, MDT, NOW

TABLE = "unit-state"
KEY = UnitKey(MDT, GUILD, "ADAM-12")


def stamped(value: str | None, seconds: int = 0, source: str = "") -> FieldStamp:
    return FieldStamp(value=value, at=NOW + timedelta(seconds=seconds), tiebreak=f"t|{value}", source=source)


def fields(status: str = "10-8") -> dict[str, FieldState]:
    return {"status": FieldState(base=Baseline.written(stamped(status, 3)))}


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_unit_state_table(client, TABLE)
        yield client


@pytest.fixture(params=["memory", "dynamodb", "dynamodb-pool"])
def store(request: pytest.FixtureRequest) -> UnitStateStore:
    if request.param == "memory":
        return InMemoryUnitStateStore()
    client = request.getfixturevalue("dynamodb")
    # The pool runs reads of several BatchGetItem pages and many writes at once (the consumer's way).
    workers = 8 if request.param == "dynamodb-pool" else 1
    return DynamoUnitStateStore(TABLE, client, clock=FixedClock(), workers=workers)


def test_state_absent_unit_reads_as_version_zero(store: UnitStateStore) -> None:
    state = store.read_many([KEY])[KEY]
    assert (state.version, dict(state.fields)) == (0, {})


def test_state_write_round_trips_every_part_of_a_field(store: UnitStateStore) -> None:
    # Given a field written by the relay, one seen from another writer, a blank, and values sent
    written = {
        "status": FieldState(
            base=Baseline.written(stamped("10-8", 3, source="sonoran")),
            sent=(
                Sent(Baseline.written(stamped("10-7", 1)), NOW),
                Sent(Baseline.observed("10-8", NOW), NOW + timedelta(seconds=1)),
            ),
        ),
        "rank": FieldState(base=Baseline.observed("SGT", NOW + timedelta(seconds=9))),
        "department": FieldState(base=Baseline.blank()),
        "officer_name": FieldState(
            heard=(
                Heard("erlc:main", "Ann_Roblox", NOW, "t|a", NOW + timedelta(seconds=60)),
                Heard("sonoran", None, NOW + timedelta(seconds=5), "t|b", NOW + timedelta(seconds=5)),
            )
        ),
    }
    # When written on an absent unit
    assert store.write(KEY, written, expected_version=0) == 1
    # Then they read back exactly, at version 1
    state = store.read_many([KEY])[KEY]
    assert dict(state.fields) == written
    assert state.version == 1


def test_state_an_item_written_before_sources_were_kept_reads_without_them() -> None:
    # Given the stored form of an earlier release: a pending change, and baselines with no source
    older = {
        "status": {
            "pending": True,
            "change": {"value": "10-8", "at": NOW.isoformat(), "tiebreak": "t"},
            "base": {"value": "10-8", "at": NOW.isoformat(), "tiebreak": "t", "ours": True},
            "sent": [
                {
                    "value": "10-6",
                    "at": NOW.isoformat(),
                    "tiebreak": "u",
                    "ours": True,
                    "sent_at": NOW.isoformat(),
                }
            ],
        }
    }
    # When read / Then its baselines and sent values stand, with no source and nothing heard yet
    fields = fields_from_json(json.dumps(older))
    assert fields["status"].base == Baseline("10-8", NOW, "t", True, "")
    assert fields["status"].sent[0].base.value == "10-6"
    assert fields["status"].heard == ()
    # And written again, it reads back the same
    assert fields_from_json(fields_to_json(fields)) == fields


def test_state_write_loses_against_a_newer_version(store: UnitStateStore) -> None:
    # Given two writers that both read version 0
    assert store.write(KEY, fields("a"), 0) == 1
    # When the second writes with what it read, then it is refused and the first value stays
    assert store.write(KEY, fields("b"), 0) is None
    assert store.write(KEY, fields("c"), 5) is None
    assert store.read_many([KEY])[KEY].fields["status"].base == fields("a")["status"].base
    # And a writer that read version 1 wins
    assert store.write(KEY, fields("d"), 1) == 2


def test_state_reads_many_units_across_batch_get_pages(store: UnitStateStore) -> None:
    keys = [UnitKey(MDT, GUILD, f"U{i:03d}") for i in range(250)]
    for key in keys[::2]:
        store.write(key, fields(key.unit_id), 0)
    states = store.read_many(keys)
    assert len(states) == 250
    assert all(states[k].version == (1 if i % 2 == 0 else 0) for i, k in enumerate(keys))
    assert states[keys[4]].fields["status"].base == fields("U004")["status"].base


def test_state_write_many_answers_each_write(store: UnitStateStore) -> None:
    # Given one unit at version 1
    taken = UnitKey(MDT, GUILD, "TAKEN")
    assert store.write(taken, fields("a"), 0) == 1
    fresh = [UnitKey(MDT, GUILD, f"U{i:02d}") for i in range(20)]
    # When many writes go at once: twenty new units, and one stale (it read version 0)
    writes = [StateWrite(key, fields(key.unit_id), 0) for key in fresh] + [StateWrite(taken, fields("b"), 0)]
    results = store.write_many(writes, lambda: True)
    # Then each has its answer: the new versions, and the race the stale one lost
    assert results.versions == dict.fromkeys(fresh, 1)
    assert results.conflicts == {taken}
    assert results.failed == {}
    assert store.read_many(fresh)[fresh[7]].fields["status"].base == fields("U07")["status"].base


def test_state_write_many_starts_no_write_without_time(store: UnitStateStore) -> None:
    # Given time for three writes only
    lock = threading.Lock()
    starts = [3]

    def can_start() -> bool:
        with lock:
            starts[0] -= 1
            return starts[0] >= 0

    keys = [UnitKey(MDT, GUILD, f"U{i:02d}") for i in range(10)]
    results = store.write_many([StateWrite(key, fields(), 0) for key in keys], can_start)
    # Then three are written and the seven others are not started, and say so
    assert len(results.versions) == 3
    assert set(results.failed.values()) == {OUT_OF_TIME}
    assert len(results.failed) == 7
    states = store.read_many(keys)
    assert sorted(k for k in keys if states[k].version) == sorted(results.versions)


def test_state_dynamodb_item_layout_and_ttl(dynamodb: Any) -> None:
    # Given a store whose TTL is 3 days
    store = DynamoUnitStateStore(TABLE, dynamodb, ttl_days=3, clock=FixedClock())
    store.write(KEY, fields(), 0)
    # Then the item lives under the unit# prefix, beside other parts' roster#/cache# items
    item = dynamodb.get_item(
        TableName=TABLE, Key={"pk": {"S": f"unit#{MDT}#{GUILD}"}, "sk": {"S": "ADAM-12"}}
    )["Item"]
    assert int(item["expires_at"]["N"]) == int(NOW.timestamp()) + 3 * 86400
    assert json.loads(zlib.decompress(item["state"]["B"]))["status"]["base"]["value"] == "10-8"
    assert item["version"] == {"N": "1"}


@pytest.mark.parametrize("code", ["ThrottlingException", "AccessDeniedException"])
def test_state_dynamodb_errors_carry_the_aws_error_code(code: str) -> None:
    # Given a client whose every call fails with an AWS error
    from botocore.exceptions import ClientError

    def fail(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": code, "Message": "no"}}, "Op")

    client = type("Failing", (), {"batch_get_item": staticmethod(fail), "update_item": staticmethod(fail)})()
    store = DynamoUnitStateStore(TABLE, client)  # type: ignore[arg-type]
    # Then the typed error says which operation and which code, not just "ClientError"
    with pytest.raises(UnitStateUnavailableError, match=f"BatchGetItem: {code}"):
        store.read_many([KEY])
    with pytest.raises(UnitStateUnavailableError, match=f"UpdateItem unit#{MDT}#{GUILD}/ADAM-12: {code}"):
        store.write(KEY, fields(), 0)
    # And many writes at once never raise: each failure is in the answer with that reason
    results = DynamoUnitStateStore(TABLE, client, workers=4).write_many(  # type: ignore[arg-type]
        [StateWrite(KEY, fields(), 0), StateWrite(UnitKey(MDT, GUILD, "B"), fields(), 0)], lambda: True
    )
    assert results.versions == {}
    assert all(code in reason for reason in results.failed.values())
    assert len(results.failed) == 2


def test_state_dynamodb_outage_is_a_typed_error() -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")  # no table: every call fails
        store = DynamoUnitStateStore(TABLE, client)
        with pytest.raises(UnitStateUnavailableError, match="ResourceNotFoundException"):
            store.read_many([KEY])
        with pytest.raises(UnitStateUnavailableError):
            store.write(KEY, fields(), 0)


def test_state_dynamodb_retries_unprocessed_keys_with_backoff(dynamodb: Any) -> None:
    # Given a client that leaves every key unprocessed once
    store = DynamoUnitStateStore(TABLE, dynamodb, sleep=lambda s: sleeps.append(s))
    store.write(KEY, fields("a"), 0)
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


# ------------------------------------------------------------------ the item's size (its write cost)


def busy_fields() -> dict[str, FieldState]:
    """A unit after a busy shift: every field with its baseline, six sent values and four sources heard,
    each tie-break as long as the merge makes them (receive time, a webhook id, position, the value)."""
    fields: dict[str, FieldState] = {}
    for name in ("officer_name", "officer_badge", "department", "rank", "status"):

        def tiebreak(i: int, name: str = name) -> str:
            return f'2026-11-28T12:00:{i:02d}.000Z|msg_{i:032x}|{i:06d}|"value-{name}-{i}"'

        sent = tuple(
            Sent(Baseline(f"value-{name}-{i}", NOW + timedelta(seconds=i), tiebreak(i), True, "sonoran"), NOW)
            for i in range(6)
        )
        heard = tuple(
            Heard(source, f"value-{name}-{i}", NOW, tiebreak(i), NOW + timedelta(seconds=i))
            for i, source in enumerate(["sonoran", "erlc:main", "erlc", "typeform"])
        )
        fields[name] = FieldState(sent[-1].base, sent, heard)
    return fields


def test_state_a_busy_units_item_is_stored_compressed_within_one_write_unit(dynamodb: Any) -> None:
    # Given a unit as busy as the state keeps (every field's sent values and sources at their bounds)
    store = DynamoUnitStateStore(TABLE, dynamodb, clock=FixedClock())
    fields = busy_fields()
    assert len(fields_to_json(fields).encode()) > 8_000  # what the plain JSON would cost: 8 write units
    # When written
    assert store.write(KEY, fields, 0) == 1
    # Then the item (keys and attributes, as DynamoDB sizes it) fits in one 1 KB write unit
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": KEY.pk}, "sk": {"S": KEY.sk}})["Item"]
    size = sum(len(name) + len(next(iter(value.values()))) for name, value in item.items())
    assert size <= 1024, size
    assert store.read_many([KEY])[KEY].fields == fields


def test_state_an_item_an_earlier_release_wrote_as_a_plain_string_still_reads(dynamodb: Any) -> None:
    fields = {"status": FieldState(base=Baseline.written(stamped("10-8", 3, source="cad")))}
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": KEY.pk},
            "sk": {"S": KEY.sk},
            "state": {"S": fields_to_json(fields)},
            "version": {"N": "4"},
        },
    )
    store = DynamoUnitStateStore(TABLE, dynamodb, clock=FixedClock())
    state = store.read_many([KEY])[KEY]
    assert (state.fields, state.version) == (fields, 4)
    # And the next write (conditional on version 4) stores it compressed
    assert store.write(KEY, fields, 4) == 5
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": KEY.pk}, "sk": {"S": KEY.sk}})["Item"]
    assert "B" in item["state"]
