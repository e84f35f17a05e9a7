"""In-process integration: the real handlers with moto for AWS and the Northca emulator for the partner."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.conftest import CAD_SECRET, PARTNER_KEY


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """A queue with its DLQ and the secrets the test config names, in moto."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq_url = sqs.create_queue(QueueName="relay-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        queue_url = sqs.create_queue(
            QueueName="relay-queue",
            Attributes={
                "VisibilityTimeout": "30",
                "RedrivePolicy": f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": 5}}',
            },
        )["QueueUrl"]
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        secrets.create_secret(Name="relay/sources/cad", SecretString=CAD_SECRET)
        secrets.create_secret(Name="northca/partner-key", SecretString=PARTNER_KEY)
        yield {"sqs": sqs, "queue_url": queue_url, "dlq_url": dlq_url, "secretsmanager": secrets}


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every visible message, received once (the queue keeps them in flight)."""
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        messages.extend(batch)
    return messages
