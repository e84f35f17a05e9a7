"""In-process integration: the real handlers with moto for AWS and the Northca emulator for the partner."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from relay_devtools.template import create_queue_with_dlq
from tests.conftest import CAD_SECRET, PARTNER_KEY


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """A queue with its DLQ and the secrets the test config names, in moto."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url, dlq_url = create_queue_with_dlq(sqs, "relay", visibility_timeout=30, max_receive_count=5)
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
