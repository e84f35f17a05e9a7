"""`relay redrive`: a message move task where SQS has one, the fallback move where it does not (moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from relay_devtools.cli import main
from relay_devtools.operations.redrive import RedriveError, list_dead_letters, move_messages, redrive

DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:relay-dlq"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:relay-queue"
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/relay-dlq"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/relay-queue"


def bodies(sqs: Any, url: str) -> list[str]:
    found: list[str] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        found += [m["Body"] for m in batch]
    return sorted(found)


def test_redrive_falls_back_to_moving_messages_itself_on_moto(aws: dict[str, Any]) -> None:
    # Given 23 messages in the DLQ, and moto, which lacks StartMessageMoveTask
    sqs = aws["sqs"]
    for i in range(23):
        sqs.send_message(QueueUrl=aws["dlq_url"], MessageBody=f"dead-{i:02d}")
    # When redriven without naming the source queue
    result = redrive(sqs, aws["dlq_url"])
    # Then every message is back on the queue the DLQ serves, and the DLQ is empty
    assert (result.mode, result.moved) == ("fallback", 23)
    assert bodies(sqs, aws["queue_url"]) == [f"dead-{i:02d}" for i in range(23)]
    assert bodies(sqs, aws["dlq_url"]) == []


def test_redrive_fallback_respects_a_limit(aws: dict[str, Any]) -> None:
    sqs = aws["sqs"]
    for i in range(5):
        sqs.send_message(QueueUrl=aws["dlq_url"], MessageBody=f"dead-{i}")
    assert move_messages(sqs, aws["dlq_url"], aws["queue_url"], limit=3) == 3


def test_redrive_fallback_keeps_in_the_dlq_what_the_source_refused(aws: dict[str, Any]) -> None:
    # Given a source queue that refuses one entry of the batch
    sqs = aws["sqs"]
    for i in range(3):
        sqs.send_message(QueueUrl=aws["dlq_url"], MessageBody=f"dead-{i}")

    class RefusingOne:
        def __getattr__(self, name: str) -> Any:
            return getattr(sqs, name)

        def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            answer = sqs.send_message_batch(QueueUrl=QueueUrl, Entries=Entries[1:])
            answer["Failed"] = [{"Id": Entries[0]["Id"], "Code": "InternalError", "SenderFault": False}]
            return answer

    # When moved, then it says so, and the refused message is still in the DLQ (visible again later)
    with pytest.raises(RedriveError):
        move_messages(RefusingOne(), aws["dlq_url"], aws["queue_url"])
    assert len(bodies(sqs, aws["queue_url"])) == 2
    counts = sqs.get_queue_attributes(QueueUrl=aws["dlq_url"], AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"


def stubbed() -> tuple[Any, Stubber]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    stub = Stubber(sqs)
    stub.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": DLQ_ARN}},
        {"QueueUrl": DLQ_URL, "AttributeNames": ["QueueArn"]},
    )
    stub.add_response("list_dead_letter_source_queues", {"queueUrls": [QUEUE_URL]}, {"QueueUrl": DLQ_URL})
    # The DLQ read for old panics (a move task moves everything): none here
    stub.add_response("receive_message", {"Messages": []})
    return sqs, stub


def test_redrive_starts_a_move_task_where_sqs_has_one() -> None:
    sqs, stub = stubbed()
    stub.add_response("list_message_move_tasks", {"Results": []}, {"SourceArn": DLQ_ARN, "MaxResults": 10})
    stub.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": QUEUE_ARN}},
        {"QueueUrl": QUEUE_URL, "AttributeNames": ["QueueArn"]},
    )
    # The destination is always named: messages the consumer dead-lettered itself have no "original source"
    stub.add_response(
        "start_message_move_task",
        {"TaskHandle": "task-1"},
        {"SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN},
    )
    with stub:
        result = redrive(sqs, DLQ_URL)
    assert (result.mode, result.task_handle) == ("move-task", "task-1")
    stub.assert_no_pending_responses()


def test_redrive_skips_when_a_move_task_is_already_running() -> None:
    sqs, stub = stubbed()
    stub.add_response(
        "list_message_move_tasks",
        {"Results": [{"TaskHandle": "task-0", "Status": "RUNNING", "SourceArn": DLQ_ARN}]},
        {"SourceArn": DLQ_ARN, "MaxResults": 10},
    )
    with stub:
        result = redrive(sqs, DLQ_URL)
    # Then nothing is started (no start_message_move_task call was stubbed, so none was made)
    assert (result.mode, result.task_handle) == ("skipped", "task-0")


def test_redrive_raises_other_errors_instead_of_falling_back() -> None:
    sqs, stub = stubbed()
    stub.add_client_error("list_message_move_tasks", service_error_code="AccessDenied", http_status_code=403)
    with stub, pytest.raises(Exception, match="AccessDenied"):
        redrive(sqs, DLQ_URL)


def test_redrive_cli_moves_messages(aws: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    sqs = aws["sqs"]
    sqs.send_message(QueueUrl=aws["dlq_url"], MessageBody="dead")
    assert main(["redrive", "--dlq-url", aws["dlq_url"], "--queue-url", aws["queue_url"]]) == 0
    assert "1 messages moved to" in capsys.readouterr().out
    assert bodies(sqs, aws["queue_url"]) == ["dead"]


def test_redrive_list_prints_each_dead_letter_and_why_and_moves_nothing(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one message the consumer dead-lettered with its reason, and one that came by maxReceiveCount
    sqs = aws["sqs"]
    sqs.send_message(
        QueueUrl=aws["dlq_url"],
        MessageBody='{"source": "cad", "webhook_id": "msg_1"}',
        MessageAttributes={"relay-reason": {"DataType": "String", "StringValue": "partner refused unit 'X'"}},
    )
    sqs.send_message(QueueUrl=aws["dlq_url"], MessageBody="not json")
    sqs.send_message(QueueUrl=aws["dlq_url"], MessageBody="[" * 100_000)  # nested past json's recursion
    # When listed
    assert main(["redrive", "--list", "--dlq-url", aws["dlq_url"]]) == 0
    out = capsys.readouterr().out
    # Then both are printed with why, and both are still in the DLQ, visible at once
    assert "cad  msg_1" in out
    assert "partner refused unit 'X'" in out
    assert "failed maxReceiveCount times" in out
    assert "3 messages in the DLQ; nothing moved" in out
    assert bodies(sqs, aws["dlq_url"]) == [
        "[" * 100_000,
        "not json",
        '{"source": "cad", "webhook_id": "msg_1"}',
    ]
    assert bodies(sqs, aws["queue_url"]) == []


def panic_body(webhook: str, received: datetime | None) -> str:
    body: dict[str, Any] = {
        "source": "cad",
        "mdt_id": "m",
        "guild_id": "1",
        "webhook_id": webhook,
        "panics": [{"unit": "ADAM-12", "at": "2026-11-28T12:00:00Z"}],
    }
    if received is not None:
        body["received_at"] = received.isoformat()
    return json.dumps(body)


def unit_body(webhook: str) -> str:
    return json.dumps({"source": "cad", "webhook_id": webhook, "received_at": "2026-11-28T12:00:00Z"})


class MoveTasks:
    """moto's SQS with the message move task API, recorded (moto lacks it)."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.started: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sqs, name)

    def list_message_move_tasks(self, **_: Any) -> dict[str, Any]:
        return {"Results": []}

    def start_message_move_task(self, SourceArn: str, DestinationArn: str) -> dict[str, Any]:
        self.started.append(DestinationArn)
        return {"TaskHandle": "task-1"}


def test_redrive_leaves_old_panics_in_the_dlq_and_says_which(aws: dict[str, Any]) -> None:
    # Given a panic received 2 h ago, one 3 min ago, and a unit change, all in the DLQ
    sqs, now = aws["sqs"], datetime.now(UTC)
    sqs.send_message(QueueUrl=aws["dlq_url"], MessageBody=panic_body("old", now - timedelta(hours=2)))
    sqs.send_message(QueueUrl=aws["dlq_url"], MessageBody=panic_body("young", now - timedelta(minutes=3)))
    sqs.send_message(QueueUrl=aws["dlq_url"], MessageBody=unit_body("unit"))
    # When redriven where SQS has move tasks
    wrapped = MoveTasks(sqs)
    result = redrive(wrapped, aws["dlq_url"], aws["queue_url"], now=lambda: now)
    # Then no move task was started (it would move the old panic too): the young panic and the unit
    # change were moved here, the old panic stays in the DLQ, visible at once, and the result names it
    assert wrapped.started == [] and (result.mode, result.moved) == ("fallback", 2)
    assert sorted(json.loads(b)["webhook_id"] for b in bodies(sqs, aws["queue_url"])) == ["unit", "young"]
    [(message_id, age)] = result.left_out
    assert timedelta(hours=2) <= age < timedelta(hours=2, minutes=1)
    [letter] = list_dead_letters(sqs, aws["dlq_url"], now=lambda: now)
    assert letter.message_id == message_id and letter.webhook_id == "old"


def test_redrive_with_no_old_panic_still_starts_a_move_task(aws: dict[str, Any]) -> None:
    sqs, now = aws["sqs"], datetime.now(UTC)
    sqs.send_message(QueueUrl=aws["dlq_url"], MessageBody=panic_body("young", now - timedelta(minutes=3)))
    sqs.send_message(QueueUrl=aws["dlq_url"], MessageBody="not json")
    wrapped = MoveTasks(sqs)
    result = redrive(wrapped, aws["dlq_url"], aws["queue_url"], now=lambda: now)
    assert result.mode == "move-task" and len(wrapped.started) == 1
    assert len(bodies(sqs, aws["dlq_url"])) == 2  # read for their age, and visible again for the task


def test_redrive_sends_old_panics_when_asked(aws: dict[str, Any]) -> None:
    sqs, now = aws["sqs"], datetime.now(UTC)
    sqs.send_message(QueueUrl=aws["dlq_url"], MessageBody=panic_body("old", now - timedelta(days=1)))
    result = redrive(sqs, aws["dlq_url"], aws["queue_url"], max_panic_age=None)
    assert (result.moved, result.left_out) == (1, [])
    assert bodies(sqs, aws["dlq_url"]) == []


def test_redrive_a_panic_without_a_receive_time_is_dated_by_the_dlq(aws: dict[str, Any]) -> None:
    # Given a panic whose body has no received_at (another writer's dead letter), sent to the DLQ now
    sqs, now = aws["sqs"], datetime.now(UTC)
    sqs.send_message(QueueUrl=aws["dlq_url"], MessageBody=panic_body("undated", None))
    # Then it is as old as its time in the DLQ: young now, old an hour later
    assert redrive(sqs, aws["dlq_url"], aws["queue_url"], now=lambda: now + timedelta(hours=1)).moved == 0
    assert redrive(sqs, aws["dlq_url"], aws["queue_url"], now=lambda: now).moved == 1


def test_redrive_cli_lists_each_panics_age_and_says_what_it_left_out(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sqs, now = aws["sqs"], datetime.now(UTC)
    sqs.send_message(
        QueueUrl=aws["dlq_url"], MessageBody=panic_body("old", now - timedelta(hours=3, minutes=5))
    )
    sqs.send_message(QueueUrl=aws["dlq_url"], MessageBody=panic_body("young", now - timedelta(seconds=90)))
    args = ["redrive", "--dlq-url", aws["dlq_url"], "--queue-url", aws["queue_url"]]
    # When listed
    assert main([*args, "--list"]) == 0
    out = capsys.readouterr().out
    # Then each panic says its age, and the old one that a redrive leaves it out
    assert "a panic received 3h 5m ago: older than 10m, redrive leaves it out" in out
    assert "a panic received 1m ago\n" in out
    assert "a redrive would leave out 1 old panics (--old-panics sends them)" in out
    # When redriven
    assert main(args) == 0
    out = capsys.readouterr().out
    # Then the young panic went and the old one is named as left in the DLQ
    assert "1 messages moved to" in out and "left 1 panics older than 10m in the DLQ" in out
    assert "received 3h 5m ago" in out
    # and a wider age, or --old-panics, sends it
    assert main([*args, "--panic-max-age", "4h"]) == 0
    assert "1 messages moved to" in capsys.readouterr().out
    assert bodies(sqs, aws["dlq_url"]) == []


def test_redrive_cli_refuses_a_panic_age_that_is_no_duration(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["redrive", "--dlq-url", aws["dlq_url"], "--panic-max-age", "an hour"])
    assert "is not a duration like 30m" in capsys.readouterr().err
