"""Removing a stack (issue #23, "Deleting a stack"): before `sam delete`, the queue must be empty and the
DLQs and logs it destroys are exported; after it, what is left (the kept table, the pushed secrets, a log
group Lambda recreated) is listed with what it costs and how to remove it. Against moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from relay.config.loader import parse_config
from relay_devtools.operations.teardown import MANIFEST, Manifest, TeardownError, leftovers, plan, prepare
from tests.support.aws import put_log_lines
from tests.support.data import base_config_data

STACK = "northca-relay"
TABLE = "northca-relay-UnitStateTable-1ABC"  # kept by sam delete (RetainExceptOnCreate)
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def stack_template() -> dict[str, Any]:
    groups = {
        logical: {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": f"{STACK}-{logical}-XYZ"}}
        for logical in ("IngressLogGroup", "ConsumerLogGroup", "ScheduledLogGroup")
    }
    queues = {name: {"Type": "AWS::SQS::Queue"} for name in ("WebhookQueue", "WebhookDLQ", "ScheduleDLQ")}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "northca-relay: a stand-in with the outputs and log groups teardown reads",
        "Parameters": {"LogRetentionDays": {"Type": "Number", "Default": 30}},
        "Resources": groups | queues,
        "Outputs": {
            "WebhookQueueUrl": {"Value": {"Ref": "WebhookQueue"}},
            "WebhookDlqUrl": {"Value": {"Ref": "WebhookDLQ"}},
            "ScheduleDlqUrl": {"Value": {"Ref": "ScheduleDLQ"}},
            "UnitStateTableName": {"Value": TABLE},
        },
    }


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        clients: dict[str, Any] = {
            "cloudformation": boto3.client("cloudformation", region_name="us-east-1"),
            "sqs": boto3.client("sqs", region_name="us-east-1"),
            "logs": boto3.client("logs", region_name="us-east-1"),
            "secretsmanager": boto3.client("secretsmanager", region_name="us-east-1"),
            "dynamodb": boto3.client("dynamodb", region_name="us-east-1"),
        }
        clients["cloudformation"].create_stack(StackName=STACK, TemplateBody=json.dumps(stack_template()))
        clients["dynamodb"].create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield clients


def outputs(aws: dict[str, Any]) -> dict[str, str]:
    stack = aws["cloudformation"].describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def config() -> Any:
    return parse_config(base_config_data())


def visible(aws: dict[str, Any], url: str) -> int:
    attributes = aws["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_teardown_refuses_while_webhooks_are_still_queued(aws: dict[str, Any], tmp_path: Path) -> None:
    # Given a webhook the consumer has not written yet
    aws["sqs"].send_message(QueueUrl=outputs(aws)["WebhookQueueUrl"], MessageBody='{"webhook_id": "w1"}')
    # Then preparing the delete refuses: the change would be lost with the queue
    with pytest.raises(TeardownError, match="1 messages are still in the webhook queue"):
        prepare(aws, STACK, "us-east-1", config(), tmp_path / "export", now=lambda: NOW)
    # ... unless told to go on
    manifest, _ = prepare(aws, STACK, "us-east-1", config(), tmp_path / "export", now=lambda: NOW, force=True)
    assert manifest.stack == STACK


def test_teardown_exports_every_dead_letter_and_leaves_them_in_the_queue(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    dlq = outputs(aws)["WebhookDlqUrl"]
    # Given dead letters, one of them not even JSON (a DLQ may hold anything), one with the relay's reason
    bodies = ['{"webhook_id": "w1", "source": "cad"}', "\x00not json", '{"webhook_id": "w3"}']
    for body in bodies:
        aws["sqs"].send_message(
            QueueUrl=dlq,
            MessageBody=body,
            MessageAttributes={"reason": {"DataType": "String", "StringValue": "partner refused"}},
        )
    manifest, _ = prepare(aws, STACK, "us-east-1", config(), tmp_path, now=lambda: NOW)
    exported = [json.loads(line) for line in (tmp_path / "WebhookDlqUrl.jsonl").read_text().splitlines()]
    assert sorted(e["body"] for e in exported) == sorted(bodies)
    assert all(e["message_attributes"]["reason"]["StringValue"] == "partner refused" for e in exported)
    assert manifest.dead_letters == {"WebhookDlqUrl": 3, "ScheduleDlqUrl": 0}
    # Reading them moved nothing: a redrive before the delete still finds them all
    assert visible(aws, dlq) == 3


def test_teardown_exports_the_relays_log_lines(aws: dict[str, Any], tmp_path: Path) -> None:
    at_ms = int(NOW.timestamp() * 1000) - 3_600_000
    lines = [
        {"level": "INFO", "message": "webhook accepted", "source": "cad", "webhook_id": f"w{i}"}
        for i in range(3)
    ]
    put_log_lines(aws["logs"], f"{STACK}-IngressLogGroup-XYZ", lines, at_ms)
    manifest, _ = prepare(aws, STACK, "us-east-1", config(), tmp_path, now=lambda: NOW)
    exported = [json.loads(line) for line in (tmp_path / "logs-ingress.jsonl").read_text().splitlines()]
    assert [e["webhook_id"] for e in exported] == ["w0", "w1", "w2"]
    assert manifest.log_lines["ingress"] == 3


def test_teardown_lists_what_sam_delete_leaves_and_finds_it_afterwards(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    # Given the secrets `relay secrets push` created (one the config names was never pushed)
    secrets = aws["secretsmanager"]
    secrets.create_secret(Name="northca/partner-key", SecretString="k")
    secrets.create_secret(Name="relay/sources/cad", SecretString="whsec_" + "a" * 32)
    # and a log group of another stack whose name starts with this one's
    aws["logs"].create_log_group(logGroupName=f"{STACK}-prod-IngressLogGroup-QQQ")
    manifest, _ = prepare(aws, STACK, "us-east-1", config(), tmp_path, now=lambda: NOW)
    assert Manifest.read(tmp_path / MANIFEST) == manifest
    assert manifest.state_table == TABLE
    assert manifest.secrets == ["northca/partner-key", "relay/sources/cad"]
    assert manifest.log_groups == sorted(
        f"{STACK}-{g}-XYZ" for g in ("IngressLogGroup", "ConsumerLogGroup", "ScheduledLogGroup")
    )
    told = "\n".join(plan(manifest))
    assert f"sam delete --stack-name {STACK} --region us-east-1" in told
    assert TABLE in told and "relay/sources/cad" in told and "$0.40 a month" in told
    # When the stack is deleted, and Lambda's late delivery recreates one of its log groups
    aws["cloudformation"].delete_stack(StackName=STACK)
    for group in aws["logs"].describe_log_groups()["logGroups"]:
        if group["logGroupName"].startswith(f"{STACK}-") and "prod" not in group["logGroupName"]:
            aws["logs"].delete_log_group(logGroupName=group["logGroupName"])
    aws["logs"].create_log_group(logGroupName=f"{STACK}-ConsumerLogGroup-XYZ")
    # Then what is left is the kept table, the two secrets and the recreated group: never the other stack's
    left = {(item.what, item.name): item for item in leftovers(aws, manifest)}
    assert set(left) == {
        ("DynamoDB table", TABLE),
        ("secret", "northca/partner-key"),
        ("secret", "relay/sources/cad"),
        ("log group", f"{STACK}-ConsumerLogGroup-XYZ"),
    }
    assert left[("secret", "relay/sources/cad")].monthly_usd == pytest.approx(0.40)
    assert "delete-secret --secret-id relay/sources/cad" in left[("secret", "relay/sources/cad")].remove
    assert "--no-deletion-protection-enabled" in left[("DynamoDB table", TABLE)].remove


def test_teardown_command_before_and_after(
    aws: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from relay_devtools.cli import main
    from tests.support.constants import ROOT

    export = tmp_path / "export"
    code = main(
        ["teardown", "--stack", STACK, "--export-dir", str(export), "--config", str(ROOT / "relay.toml")]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"sam delete --stack-name {STACK} --region us-east-1" in printed
    assert f"relay teardown --leftovers {export}" in printed
    aws["cloudformation"].delete_stack(StackName=STACK)
    assert main(["teardown", "--leftovers", str(export)]) == 0
    printed = capsys.readouterr().out
    assert TABLE in printed
