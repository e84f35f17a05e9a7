"""The local event source mapping on moto SQS: batches, partial failures, visibility, maxReceiveCount, DLQ."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from relay_devtools.files.template import create_queue_with_dlq
from relay_devtools.local.esm import MappingSettings, SqsEventSourceMapping

MAX_RECEIVE_COUNT = 5


@pytest.fixture
def queues() -> Iterator[dict[str, Any]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url, dlq_url = create_queue_with_dlq(
            sqs,
            "esm",
            visibility_timeout=300,  # long: only expire_visibility() brings failures back
            max_receive_count=MAX_RECEIVE_COUNT,
        )
        yield {"sqs": sqs, "queue_url": queue_url, "dlq_url": dlq_url}


class RecordingHandler:
    """Answers with the ids `fail` selects; remembers every batch of bodies it saw."""

    def __init__(self, fail: Any = lambda body: False, raises: bool = False) -> None:
        self.fail = fail
        self.raises = raises
        self.batches: list[list[str]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event["Records"]
        self.batches.append([r["body"] for r in records])
        if self.raises:
            raise RuntimeError("consumer crashed")
        return {
            "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records if self.fail(r["body"])]
        }


def send(queues: dict[str, Any], *bodies: str) -> None:
    for body in bodies:
        queues["sqs"].send_message(QueueUrl=queues["queue_url"], MessageBody=body)


def mapping(queues: dict[str, Any], handler: Any, batch_size: int = 10) -> SqsEventSourceMapping:
    settings = MappingSettings(batch_size=batch_size, window_seconds=0, function_timeout_seconds=60)
    return SqsEventSourceMapping(queues["sqs"], queues["queue_url"], handler, settings)


def dlq_bodies(queues: dict[str, Any]) -> list[str]:
    messages = queues["sqs"].receive_message(QueueUrl=queues["dlq_url"], MaxNumberOfMessages=10)
    return sorted(m["Body"] for m in messages.get("Messages", []))


def test_esm_batches_up_to_the_batch_size(queues: dict[str, Any]) -> None:
    # Given 25 messages and a batch size of 10
    send(queues, *(f"b{i}" for i in range(25)))
    handler = RecordingHandler()
    # When drained, then the handler saw batches of 10, 10 and 5, and the queue is empty
    assert mapping(queues, handler).drain() == 3
    assert [len(b) for b in handler.batches] == [10, 10, 5]
    assert mapping(queues, RecordingHandler()).drain(expire=True) == 0


def test_esm_partial_failure_redelivers_only_the_failed(queues: dict[str, Any]) -> None:
    # Given five messages of which the handler fails two, once
    send(queues, "ok-1", "fail-2", "ok-3", "fail-4", "ok-5")
    seen: set[str] = set()

    def fail_first_time(body: str) -> bool:
        first = body not in seen
        seen.add(body)
        return body.startswith("fail") and first

    handler = RecordingHandler(fail_first_time)
    esm = mapping(queues, handler)
    # When invoked once, then only the two failed stay in flight
    result = esm.poll_once(wait=False)
    assert result is not None and result.deleted == 3 and len(result.failed) == 2
    # And once their visibility lapses, exactly those two come back (with receive count 2), and succeed
    assert esm.poll_once(wait=False) is None
    assert esm.expire_visibility() == 2
    esm.drain()
    assert sorted(handler.batches[1]) == ["fail-2", "fail-4"]
    assert sorted(esm.receives.values()) == [1, 1, 1, 2, 2]
    assert dlq_bodies(queues) == []


def test_esm_poison_message_reaches_the_dlq_after_exactly_max_receive_count_receives(
    queues: dict[str, Any],
) -> None:
    # Given a message the handler fails every time, next to one it accepts
    send(queues, "poison", "fine")
    handler = RecordingHandler(lambda body: body == "poison")
    esm = mapping(queues, handler)
    # When the queue is drained, visibility lapsing each time
    esm.drain(expire=True)
    # Then the poison message was handed to the function exactly maxReceiveCount times, then moved
    assert sum(batch.count("poison") for batch in handler.batches) == MAX_RECEIVE_COUNT
    assert sum(batch.count("fine") for batch in handler.batches) == 1
    assert dlq_bodies(queues) == ["poison"]


def test_esm_raised_exception_fails_the_whole_batch(queues: dict[str, Any]) -> None:
    send(queues, "a", "b")
    crashing = RecordingHandler(raises=True)
    esm = mapping(queues, crashing)
    result = esm.poll_once(wait=False)
    assert result is not None and result.failed and result.error == "RuntimeError: consumer crashed"
    assert esm.stats.handler_errors == 1
    # Then both come back to a healthy handler
    esm.expire_visibility()
    healthy = RecordingHandler()
    esm.handler = healthy
    esm.drain()
    assert sorted(healthy.batches[0]) == ["a", "b"]


def test_esm_malformed_answer_fails_the_whole_batch(queues: dict[str, Any]) -> None:
    send(queues, "a", "b")

    def unknown_id(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}

    result = mapping(queues, unknown_id).poll_once(wait=False)
    assert result is not None and result.deleted == 0 and len(result.failed) == 2


def test_esm_context_carries_the_function_timeout(queues: dict[str, Any]) -> None:
    send(queues, "a")
    remaining: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        remaining.append(context.get_remaining_time_in_millis())

    mapping(queues, handler).drain()
    assert 59_000 < remaining[0] <= 60_000


def test_with_no_batching_window_a_batch_is_what_one_long_poll_returns(queues: dict[str, Any]) -> None:
    # Given the emergency queue's mapping (no window) and 15 messages waiting
    handler = RecordingHandler()
    esm = mapping(queues, handler, batch_size=10)
    send(queues, *(f"m{i}" for i in range(15)))
    # When it polls as Lambda does / Then it invokes at once with what one receive returned, not more
    result = esm.poll_once(wait=True)
    assert result is not None and 1 <= result.received <= 10
    assert esm.drain() >= 1
    assert sum(len(batch) for batch in handler.batches) == 15
    # And with nothing waiting, one long poll comes back empty (no tight loop)
    assert esm.poll_once(wait=True) is None
