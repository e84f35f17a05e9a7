"""The real consumer handler wired from its environment, as in Lambda: moto DynamoDB/SQS/Secrets Manager
for AWS, the Northca emulator on loopback for the partner."""

from __future__ import annotations

import contextlib
import io
import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from relay.errors import ConfigError
from relay.handlers import consumer, wiring
from relay_devtools.emulators.northca import NorthcaEmulator
from tests.support.aws import create_unit_state_table
from tests.support.constants import GUILD, MDT, PARTNER_KEY
from tests.support.consumer import FULL, change, message

TABLE = "handler-unit-state"


@pytest.fixture
def wired(aws: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NorthcaEmulator]:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_unit_state_table(dynamodb, TABLE)
    config = tmp_path / "relay.toml"
    config.write_text(
        '[northca]\npartner_key_secret = "northca/partner-key"\n\n[consumer]\nmin_remaining_ms = 1000\n'
    )
    with NorthcaEmulator(partner_keys=[PARTNER_KEY], links={MDT: [GUILD]}, refuse_nulls=True) as emulator:
        monkeypatch.setenv("RELAY_CONFIG", str(config))
        monkeypatch.setenv("STATE_TABLE", TABLE)
        monkeypatch.setenv("QUEUE_URL", aws["queue_url"])
        monkeypatch.setenv("NORTHCA_BASE_URL", emulator.base_url)
        wiring.reset()
        yield emulator
        wiring.reset()


def invoke(records: list[dict[str, Any]], context: Any) -> dict[str, Any]:
    with contextlib.redirect_stdout(io.StringIO()):  # the EMF metrics line
        answer: dict[str, Any] = consumer.lambda_handler({"Records": records}, context)
    return answer


def sqs_record(message_id: str, body: str) -> dict[str, Any]:
    return {"messageId": message_id, "receiptHandle": f"rh-{message_id}", "body": body, "attributes": {}}


def test_consumer_handler_keeps_every_field_across_invocations(
    wired: NorthcaEmulator, lambda_context: Any
) -> None:
    # Given a unit's full record in one invocation
    full = message("w1", change("ADAM-12", 1, **FULL, status="10-8"))
    first = invoke([sqs_record("m1", full.body())], lambda_context)
    # When a later invocation carries only a status change (and an unreadable message)
    second = invoke(
        [
            sqs_record("m2", message("w2", change("ADAM-12", 2, status="10-6")).body()),
            sqs_record("m3", json.dumps({"v": 1})),
        ],
        lambda_context,
    )
    # Then the partner keeps every other field, and only the unreadable message is reported
    assert first == {"batchItemFailures": []}
    assert second == {"batchItemFailures": [{"itemIdentifier": "m3"}]}
    held = wired.units(MDT)["ADAM-12"]
    assert {k: held[k] for k in (*FULL, "status")} == {**FULL, "status": "10-6"}
    # And the unit's state is in the table, under the unit# prefix, the new status recorded as written
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=TABLE, Key={"pk": {"S": f"unit#{MDT}#{GUILD}"}, "sk": {"S": "ADAM-12"}}
    )["Item"]
    stored = json.loads(zlib.decompress(item["state"]["B"]))
    assert stored["status"]["base"] | {"at": "-", "tiebreak": "-"} == {
        "value": "10-6",
        "at": "-",
        "tiebreak": "-",
        "ours": True,
        "source": "cad",
    }


def test_consumer_handler_leaves_what_a_dispatcher_set_in_the_mdt(
    wired: NorthcaEmulator, lambda_context: Any
) -> None:
    # Given CAD-77 as another writer stored it in the emulated MDT
    wired.edit(
        MDT,
        "CAD-77",
        {
            "officer_name": "J. Doe",
            "officer_badge": "77",
            "department": "Patrol",
            "rank": "SGT",
            "status": "10-7",
        },
    )
    # When the relay delivers a change of its status only, made after that (the emulator's clock is real)
    now = datetime.now(UTC) + timedelta(seconds=1)  # a millisecond apart would be a tie: the edit wins
    later = message("w1", change("CAD-77", 0, status="10-8")).model_copy(update={"received_at": now})
    later = later.model_copy(update={"changes": [later.changes[0].model_copy(update={"at": now})]})
    assert invoke([sqs_record("m1", later.body())], lambda_context) == {"batchItemFailures": []}
    # Then the emulator holds every field the other writer set, with the relay's status
    held = wired.units(MDT)["CAD-77"]
    assert {k: held[k] for k in ("officer_name", "officer_badge", "department", "rank", "status")} == {
        "officer_name": "J. Doe",
        "officer_badge": "77",
        "department": "Patrol",
        "rank": "SGT",
        "status": "10-8",
    }
    # And the PUT read the list first and sent no null
    requests = [(r["method"], r["body"]) for r in wired.requests() if r["path"].startswith("/v1/")]
    assert [m for m, _ in requests] == ["GET", "PUT"]
    assert None not in requests[1][1]["units"][0].values()


def test_consumer_handler_delays_throttled_messages_on_the_queue(
    wired: NorthcaEmulator, aws: dict[str, Any], lambda_context: Any
) -> None:
    # Given a message really received from the queue, and a partner asking to come back in 120 s
    aws["sqs"].send_message(
        QueueUrl=aws["queue_url"], MessageBody=message("w1", change("A", 1, status="x")).body()
    )
    received = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], VisibilityTimeout=0)["Messages"][0]
    wired.add_faults([{"kind": "throttle", "status": 429, "retry_after": "120"}])
    # When consumed
    record = sqs_record(received["MessageId"], received["Body"]) | {
        "receiptHandle": received["ReceiptHandle"]
    }
    answer = invoke([record], lambda_context)
    # Then it is given back, and hidden from the queue for the partner's delay
    assert answer == {"batchItemFailures": [{"itemIdentifier": received["MessageId"]}]}
    attributes = aws["sqs"].get_queue_attributes(QueueUrl=aws["queue_url"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_consumer_handler_without_state_table_fails_before_any_put(
    wired: NorthcaEmulator, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    monkeypatch.delenv("STATE_TABLE")
    with pytest.raises(ConfigError, match="STATE_TABLE"):
        invoke([sqs_record("m1", message("w1", change("A", 1, status="x")).body())], lambda_context)
    assert wired.requests() == []


def test_consumer_handler_puts_a_refused_units_message_in_the_dlq_with_its_reason(
    wired: NorthcaEmulator, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    # Given the DLQ in the function's environment, and a partner that refuses one unit for good
    monkeypatch.setenv("DLQ_URL", aws["dlq_url"])
    wired.add_faults([{"kind": "reject_units", "unit_ids": ["BAD-1"], "count": None}])
    refused = message("w1", change("BAD-1", 1, status="10-8")).body()
    # When a batch holds its message, a good one and an unreadable one
    answer = invoke(
        [
            sqs_record("m1", refused),
            sqs_record("m2", message("w2", change("GOOD-1", 1, status="10-8")).body()),
            sqs_record("m3", "not json"),
        ],
        lambda_context,
    )
    # Then nothing comes back for a retry that cannot help: both bad messages are in the DLQ, as they
    # were, each with the reason an operator needs; the good unit is written
    assert answer == {"batchItemFailures": []}
    dead = aws["sqs"].receive_message(
        QueueUrl=aws["dlq_url"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    reasons = {m["Body"]: m["MessageAttributes"]["relay-reason"]["StringValue"] for m in dead}
    assert reasons.keys() == {refused, "not json"}
    assert (
        reasons[refused]
        == f"partner refused unit 'BAD-1' of MDT {MDT}: Each unit must include a non-empty id"
    )
    assert reasons["not json"].startswith("body: Invalid JSON")
    assert set(wired.units(MDT)) == {"GOOD-1"}
