"""moto resources shaped like template.yaml's, for the integration suites."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws

from relay_devtools.files.template import create_queue_with_dlq, create_table, load_template
from tests.support.constants import CAD_SECRET, PARTNER_KEY, ROOT
from tests.support.data import SECRETS, SHIPPED_BUNDLE


@functools.cache
def _template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def create_unit_state_table(client: Any, name: str = "unit-state") -> None:
    """The unit-state table with the keys template.yaml gives it (in moto)."""
    create_table(client, _template(), "UnitStateTable", name)


def create_replay_table(client: Any, name: str = "relay-replay") -> None:
    create_table(client, _template(), "ReplayTable", name)


def create_archive_table(client: Any, name: str = "relay-archive") -> None:
    create_table(client, _template(), "ArchiveTable", name)


@contextmanager
def queue_and_secrets() -> Iterator[dict[str, Any]]:
    """A queue with its DLQ and the base config's secrets, in a moto context of their own."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url, dlq_url = create_queue_with_dlq(sqs, "relay", visibility_timeout=30, max_receive_count=5)
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        secrets.create_secret(Name="relay/sources/cad", SecretString=CAD_SECRET)
        secrets.create_secret(Name="northca/partner-key", SecretString=PARTNER_KEY)
        # The shipped relay.toml keeps both in one bundle, as `relay secrets push` writes it.
        bundle = {"relay/sources/cad": CAD_SECRET, "northca/partner-key": PARTNER_KEY}
        secrets.create_secret(Name=SHIPPED_BUNDLE, SecretString=json.dumps(bundle))
        yield {"sqs": sqs, "queue_url": queue_url, "dlq_url": dlq_url, "secretsmanager": secrets}


def add_relay_resources(aws: dict[str, Any]) -> dict[str, Any]:
    """Every scheme source's secret and a replay table, beside `aws`."""
    for name, value in SECRETS.items():
        aws["secretsmanager"].create_secret(
            Name=name, SecretString=value if isinstance(value, str) else json.dumps(value)
        )
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_replay_table(dynamodb)
    return {**aws, "dynamodb": dynamodb, "replay_table": "relay-replay"}


@contextmanager
def relay_aws() -> Iterator[dict[str, Any]]:
    """queue_and_secrets() plus add_relay_resources(), for module-scoped fixtures."""
    with queue_and_secrets() as aws:
        yield add_relay_resources(aws)


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every visible message, received once (the queue keeps them in flight)."""
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        messages.extend(batch)
    return messages


def create_plain_stack(
    name: str, parameters: dict[str, str] | None = None, *, tables: bool = False
) -> dict[str, Any]:
    """A stack shaped like the relay's where the operator's commands look (in moto, which cannot run
    SAM transforms): its parameters, log groups, queue and DLQ, and outputs; with `tables`, the unit-state
    table and the archive too (relay inspect, replay, resync). Returns its clients."""
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {
            "PartnerKeySecretName": {"Type": "String", "Default": "northca/partner-key"},
            "SourceSecretsPrefix": {"Type": "String", "Default": "relay/sources/"},
            "ErlcServerKeySecretPrefix": {"Type": "String", "Default": "relay/erlc/"},
        },
        "Resources": {
            "IngressLogGroup": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": f"/aws/lambda/{name}-ingress"},
            },
            "ConsumerLogGroup": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": f"/aws/lambda/{name}-consumer"},
            },
            "WebhookDLQ": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{name}-dlq"}},
            "WebhookQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{name}-queue"}},
        },
        "Outputs": {
            "WebhookUrl": {"Value": "https://abc123.execute-api.us-east-1.amazonaws.com/hooks/"},
            "WebhookQueueUrl": {"Value": {"Ref": "WebhookQueue"}},
            "WebhookDlqUrl": {"Value": {"Ref": "WebhookDLQ"}},
        },
    }
    if tables:
        for logical_id, output in (
            ("UnitStateTable", "UnitStateTableName"),
            ("ArchiveTable", "ArchiveTableName"),
        ):
            props = _template()["Resources"][logical_id]["Properties"]
            template["Resources"][logical_id] = {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": f"{name}-{logical_id}",
                    "BillingMode": "PAY_PER_REQUEST",
                    "KeySchema": props["KeySchema"],
                    "AttributeDefinitions": props["AttributeDefinitions"],
                },
            }
            template["Outputs"][output] = {"Value": {"Ref": logical_id}}
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
    )
    return {
        "cloudformation": cloudformation,
        "dynamodb": boto3.client("dynamodb", region_name="us-east-1"),
        "logs": boto3.client("logs", region_name="us-east-1"),
        "sqs": boto3.client("sqs", region_name="us-east-1"),
        "secretsmanager": boto3.client("secretsmanager", region_name="us-east-1"),
    }


def put_log_lines(logs: Any, group: str, lines: list[dict[str, Any]], at_ms: int) -> None:
    """Powertools JSON lines into a log group, one millisecond apart from `at_ms`."""
    logs.create_log_stream(logGroupName=group, logStreamName="2026/11/28/[$LATEST]test")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="2026/11/28/[$LATEST]test",
        logEvents=[{"timestamp": at_ms + i, "message": json.dumps(line)} for i, line in enumerate(lines)],
    )
