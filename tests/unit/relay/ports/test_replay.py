"""The replay guard port: the in-memory one, and the DynamoDB one against botocore's Stubber (no sockets)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import boto3
import pytest
from botocore.stub import Stubber

from relay.aws.dynamodb import DynamoReplayGuard
from relay.errors import ReplayStoreUnavailableError
from relay.ingress.replay import replay_key
from relay.memory import REPLAY_SWEEP_AT, InMemoryReplayGuard
from tests.support.constants import NOW

TTL = 900
EPOCH = int(NOW.timestamp())


def test_replay_key_is_scoped_by_source_and_bounded() -> None:
    assert replay_key("cad", "msg_1") == "cad#msg_1"
    assert replay_key("cad", "msg_1") != replay_key("github", "msg_1")
    long = replay_key("cad", "x" * 5000)
    assert long.startswith("cad#sha256:") and len(long) < 100
    assert long != replay_key("cad", "x" * 4999)


def test_in_memory_guard_remembers_until_the_ttl() -> None:
    # Given a delivery remembered at NOW
    guard = InMemoryReplayGuard()
    assert not guard.seen("cad#1", NOW)
    assert guard.remember("cad#1", NOW, TTL)
    # Then it is seen until NOW + TTL, and not from then on
    assert guard.seen("cad#1", NOW + timedelta(seconds=TTL - 1))
    assert not guard.seen("cad#1", NOW + timedelta(seconds=TTL))
    assert not guard.seen("cad#2", NOW)


def test_in_memory_guard_remember_reports_a_live_record() -> None:
    guard = InMemoryReplayGuard()
    assert guard.remember("k", NOW, TTL)
    assert not guard.remember("k", NOW + timedelta(seconds=1), TTL)
    # An expired record is replaced
    assert guard.remember("k", NOW + timedelta(seconds=TTL), TTL)


def test_in_memory_guard_sweeps_expired_records() -> None:
    guard = InMemoryReplayGuard()
    for i in range(REPLAY_SWEEP_AT):
        guard.remember(f"old#{i}", NOW, 60)
    guard.remember("new", NOW + timedelta(seconds=61), 60)
    assert list(guard.records) == ["new"]


@pytest.fixture
def dynamodb() -> Iterator[tuple[DynamoReplayGuard, Stubber]]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield DynamoReplayGuard("replay", client), stubber
        stubber.assert_no_pending_responses()


def get_params(key: str) -> dict[str, object]:
    return {
        "TableName": "replay",
        "Key": {"pk": {"S": key}},
        "ConsistentRead": True,
        "ProjectionExpression": "expires_at",
    }


def test_dynamo_guard_seen_reads_consistently_and_honours_expiry(dynamodb) -> None:
    guard, stubber = dynamodb
    stubber.add_response("get_item", {"Item": {"expires_at": {"N": str(EPOCH + 1)}}}, get_params("cad#1"))
    stubber.add_response("get_item", {"Item": {"expires_at": {"N": str(EPOCH)}}}, get_params("cad#1"))
    stubber.add_response("get_item", {}, get_params("cad#2"))
    assert guard.seen("cad#1", NOW)
    # Expired but not yet swept by DynamoDB's TTL: reads as absent
    assert not guard.seen("cad#1", NOW)
    assert not guard.seen("cad#2", NOW)


def test_dynamo_guard_remember_is_a_conditional_put_with_ttl(dynamodb) -> None:
    guard, stubber = dynamodb
    expected = {
        "TableName": "replay",
        "Item": {"pk": {"S": "cad#1"}, "expires_at": {"N": str(EPOCH + TTL)}},
        "ConditionExpression": "attribute_not_exists(pk) OR expires_at <= :now",
        "ExpressionAttributeValues": {":now": {"N": str(EPOCH)}},
    }
    stubber.add_response("put_item", {}, expected)
    stubber.add_client_error("put_item", service_error_code="ConditionalCheckFailedException")
    assert guard.remember("cad#1", NOW, TTL)
    # A live record written meanwhile (a concurrent copy) makes the write lose: reported, not raised
    assert not guard.remember("cad#1", NOW, TTL)


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "InternalServerError", "AccessDenied"]
)
def test_dynamo_guard_outages_raise_the_store_error(dynamodb, code: str) -> None:
    guard, stubber = dynamodb
    stubber.add_client_error("get_item", service_error_code=code, http_status_code=500)
    stubber.add_client_error("put_item", service_error_code=code, http_status_code=500)
    with pytest.raises(ReplayStoreUnavailableError):
        guard.seen("cad#1", NOW)
    with pytest.raises(ReplayStoreUnavailableError):
        guard.remember("cad#1", NOW, TTL)
