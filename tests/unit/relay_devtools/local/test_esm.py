"""Lambda's rules for a partial batch response, as the local mapping applies them."""

from __future__ import annotations

from typing import Any

import pytest

from relay_devtools.local.esm import failed_ids, to_lambda_record

BATCH = {"m1", "m2", "m3"}


@pytest.mark.parametrize(
    "answer",
    [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}, {"somethingElse": 1}],
    ids=["null-answer", "empty-object", "empty-list", "null-list", "no-failures-key"],
)
def test_esm_answers_meaning_every_message_succeeded(answer: Any) -> None:
    # When the handler answers like this, then Lambda deletes the whole batch
    assert failed_ids(answer, BATCH) == (set(), None)


def test_esm_listed_messages_fail_and_only_they() -> None:
    answer = {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}
    assert failed_ids(answer, BATCH) == ({"m2", "m3"}, None)


@pytest.mark.parametrize(
    "answer",
    [
        "not an object",
        ["m1"],
        {"batchItemFailures": "m1"},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"itemIdentifer": "m1"}]},
        {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]},
        {"batchItemFailures": [{"itemIdentifier": "m1"}, "m2"]},
        {"batchItemFailures": [{"itemIdentifier": 7}]},
    ],
    ids=[
        "string",
        "list",
        "failures-not-a-list",
        "empty-id",
        "null-id",
        "bad-key-name",
        "unknown-id",
        "item-not-an-object",
        "id-not-a-string",
    ],
)
def test_esm_malformed_answers_fail_the_whole_batch(answer: Any) -> None:
    # When the answer is malformed, then every message of the batch failed, with a reason
    failed, reason = failed_ids(answer, BATCH)
    assert failed == BATCH
    assert reason


def test_esm_record_has_the_fields_the_consumer_reads() -> None:
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "Body": "{}",
        "Attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1"},
    }
    record = to_lambda_record(message, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    assert record["messageId"] == "m1"
    assert record["receiptHandle"] == "rh"
    assert record["attributes"]["ApproximateReceiveCount"] == "3"
    assert record["eventSource"] == "aws:sqs"
