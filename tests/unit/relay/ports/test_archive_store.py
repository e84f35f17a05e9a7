"""The archive's port: DynamoDB (moto, in-process) and memory keep the same contract: a record kept is
read back whole, by its source and a window of time or by its webhook id, and not after its days."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from relay.aws.archive import ARCHIVE_ITEM_LIMIT, DynamoArchive, pack_delivery
from relay.errors import ArchiveUnavailableError
from relay.memory import InMemoryArchive
from relay.ports.archive import ArchivedDelivery
from tests.support.aws import create_archive_table
from tests.support.clocks import FixedClock
from tests.support.constants import NOW

TABLE = "relay-archive"


def delivery(webhook_id: str | None, minutes: int = 0, source: str = "cad", **extra: Any) -> ArchivedDelivery:
    return ArchivedDelivery(
        source=source,
        received_at=NOW + timedelta(minutes=minutes),
        outcome="accepted" if webhook_id else "refused",
        webhook_id=webhook_id,
        request_id=f"req-{minutes}",
        messages=(f'{{"webhook_id":"{webhook_id}"}}',) if webhook_id else (),
        **extra,
    )


class Stores:
    def __init__(self, kind: str, client: Any) -> None:
        self.clock = FixedClock(NOW)
        if kind == "memory":
            self.store: InMemoryArchive | DynamoArchive = InMemoryArchive(self.clock)
        else:
            self.store = DynamoArchive(TABLE, client, self.clock)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_archive_table(client, TABLE)
        yield client


@pytest.fixture(params=["memory", "dynamodb"])
def stores(request: pytest.FixtureRequest) -> Stores:
    client = request.getfixturevalue("dynamodb") if request.param == "dynamodb" else None
    return Stores(request.param, client)


def test_archive_a_record_reads_back_whole_by_window_and_by_id(stores: Stores) -> None:
    # Given a delivery with every part kept
    kept = delivery(
        "msg_1",
        label="main: ;10-8 -> 1A-07",
        body=b'{"id":"ADAM-12"}',
        headers={"webhook-id": "msg_1", "content-type": "application/json"},
    )
    # When it is kept
    stores.store.keep(kept, days=7)
    # Then both reads give it back as it was
    assert stores.store.window("cad", NOW - timedelta(minutes=1), NOW + timedelta(minutes=1)) == [kept]
    assert stores.store.find("msg_1") == [kept]


def test_archive_a_window_holds_its_source_only_oldest_first_ends_included(stores: Stores) -> None:
    # Given records of two sources over an hour
    for minute in (0, 30, 60, 90):
        stores.store.keep(delivery(f"cad-{minute}", minute), days=7)
    stores.store.keep(delivery("forms-30", 30, source="forms"), days=7)
    # When the window is 30 to 60 minutes
    found = stores.store.window("cad", NOW + timedelta(minutes=30), NOW + timedelta(minutes=60))
    # Then the cad records inside it, both ends included, oldest first
    assert [d.webhook_id for d in found] == ["cad-30", "cad-60"]


def test_archive_a_refused_delivery_is_kept_without_an_id(stores: Stores) -> None:
    # Given a refused delivery (no webhook id can be trusted)
    refused = delivery(
        None, 5, reason="mismatch: no signature matches", body=b"{}", secret_digest="sha256:ab"
    )
    stores.store.keep(refused, days=7)
    # Then the window finds it, and so does the trail's name for it (its request id)
    assert stores.store.window("cad", NOW, NOW + timedelta(minutes=10)) == [refused]
    assert stores.store.find("request:req-5") == [refused]
    assert stores.store.find("None") == []


def test_archive_one_id_twice_gives_both_records_oldest_first(stores: Stores) -> None:
    # Given a sender that delivered one id again after the replay window
    stores.store.keep(delivery("msg_1", 0), days=7)
    stores.store.keep(delivery("msg_1", 40), days=7)
    # Then the id names both
    assert [d.received_at for d in stores.store.find("msg_1")] == [NOW, NOW + timedelta(minutes=40)]


def test_archive_a_record_is_not_read_after_its_days(stores: Stores) -> None:
    # Given a record kept one day
    stores.store.keep(delivery("msg_1"), days=1)
    # When a day and a second have passed (DynamoDB's TTL may delete it days later)
    stores.clock.advance(86400 + 1)
    # Then no read returns it
    assert stores.store.find("msg_1") == []
    assert stores.store.window("cad", NOW - timedelta(days=2), NOW + timedelta(days=2)) == []


def test_archive_dynamodb_items_carry_the_ttl_and_a_compressed_record(dynamodb: Any) -> None:
    DynamoArchive(TABLE, dynamodb).keep(delivery("msg_1", body=b'{"a": 1}' * 100), days=7)
    items = dynamodb.scan(TableName=TABLE)["Items"]
    by_pk = {item["pk"]["S"]: item for item in items}
    assert set(by_pk) == {"src#cad"}  # one item a delivery: one write unit
    assert by_pk["src#cad"]["lookup"] == {"S": "msg_1"}
    assert int(by_pk["src#cad"]["expires_at"]["N"]) == int(NOW.timestamp()) + 7 * 86400
    assert "B" in by_pk["src#cad"]["record"]
    assert len(by_pk["src#cad"]["record"]["B"]) < 300  # 800 bytes of body compress


def test_archive_a_record_too_large_is_kept_without_its_body(dynamodb: Any) -> None:
    # Given a body that does not compress (random bytes), past the item limit
    body = os.urandom(ARCHIVE_ITEM_LIMIT + 1024)
    store = DynamoArchive(TABLE, dynamodb, FixedClock(NOW))
    # When it is kept
    store.keep(delivery("msg_big", body=body), days=7)
    # Then the record is there, its messages whole, its body left out
    [found] = store.find("msg_big")
    assert found.messages and found.body is None
    assert len(pack_delivery(delivery("msg_big", body=body))) > ARCHIVE_ITEM_LIMIT


def test_archive_dynamodb_outage_is_a_typed_error() -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")  # no table
        with pytest.raises(ArchiveUnavailableError, match="PutItem: ResourceNotFoundException"):
            DynamoArchive("missing", client).keep(delivery("msg_1"), days=7)


def test_archive_a_window_given_in_another_zone_is_the_same_window(stores: Stores) -> None:
    # `relay replay --until 2026-11-28T14:30:00+02:00` names 12:30 UTC
    from datetime import timezone

    for minute in (0, 30, 60):
        stores.store.keep(delivery(f"cad-{minute}", minute), days=7)
    plus_two = timezone(timedelta(hours=2))
    found = stores.store.window(
        "cad",
        (NOW + timedelta(minutes=15)).astimezone(plus_two),
        NOW.astimezone(plus_two) + timedelta(minutes=45),
    )
    assert [d.webhook_id for d in found] == ["cad-30"]
