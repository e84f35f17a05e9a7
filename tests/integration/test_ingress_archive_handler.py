"""The real ingress handler keeps each accepted delivery in the archive table (moto), and answers the
same when the archive fails: 202, queued, a warning the ingress-degraded alarm counts."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from relay.aws.archive import DynamoArchive
from relay.messages import QueueMessage
from tests.support.aws import create_archive_table
from tests.support.clocks import FixedClock
from tests.support.constants import NOW
from tests.support.ingress import Stack, event, signed
from tests.support.logs import captured_logs, log_records

TABLE = "relay-archive"


def test_ingress_handler_keeps_an_accepted_delivery_in_the_archive_table(stack: Stack) -> None:
    # Given the archive table beside the stack
    create_archive_table(stack.aws["dynamodb"], TABLE)
    deps = stack.deps()
    deps.archive = DynamoArchive(TABLE, stack.aws["dynamodb"], FixedClock(NOW))
    # When a signed delivery comes
    status, _ = stack.invoke(event("cad", signed(stack.config, "cad", delivery_id="msg_archived")), deps)
    # Then it is queued, and the archive names it with the messages as queued
    assert status == 202
    queued = stack.queued()
    [record] = deps.archive.find("msg_archived")
    assert [QueueMessage.model_validate_json(body) for body in record.messages] == queued
    window = deps.archive.window("cad", NOW - timedelta(seconds=1), NOW + timedelta(seconds=1))
    assert window == [record]


def test_ingress_handler_answers_the_same_when_the_archive_table_is_missing(stack: Stack) -> None:
    # Given an archive whose table does not exist (a permission or a table problem)
    deps = stack.deps()
    deps.archive = DynamoArchive("no-such-table", stack.aws["dynamodb"])
    # When a signed delivery comes
    with captured_logs() as logs:
        status, body = stack.invoke(event("cad", signed(stack.config, "cad", delivery_id="msg_2")), deps)
    # Then it is accepted and queued all the same, and the loss is said in the line the alarm counts
    assert status == 202 and body["data"]["changes"] == 1
    assert len(stack.queued()) == 1
    lines: list[dict[str, Any]] = [r for r in log_records(logs) if r["message"] == "archive not written"]
    assert len(lines) == 1 and "ResourceNotFoundException" in json.dumps(lines[0])
