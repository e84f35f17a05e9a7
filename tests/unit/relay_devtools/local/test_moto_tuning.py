"""relay local's moto speed-up keeps moto's SQS semantics: the same clock, read more cheaply."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import boto3
import moto.sqs.models as sqs_models
import pytest
from moto import mock_aws
from moto.core.utils import unix_time_millis

from relay_devtools.local.moto_tuning import _unix_time_millis, speed_up_sqs


def test_the_fast_clock_reads_what_motos_clock_reads() -> None:
    # Now: the same milliseconds since the epoch (read a moment apart)
    before = unix_time_millis()
    fast = _unix_time_millis()
    after = unix_time_millis()
    assert before - 1 <= fast <= after + 1
    # A given instant: exactly moto's answer
    moment = datetime(2026, 11, 28, 12, 0, 0, 123000)
    assert _unix_time_millis(moment) == unix_time_millis(moment)
    assert abs(_unix_time_millis() / 1000 - datetime.now(UTC).timestamp()) < 1


def test_sqs_keeps_visibility_and_delay_after_the_speed_up() -> None:
    speed_up_sqs()
    assert sqs_models.unix_time_millis is _unix_time_millis  # type: ignore[attr-defined]
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="now")
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
        # The delayed message is not visible; the other is, once, then hidden by its visibility timeout
        first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)
        assert [m["Body"] for m in first["Messages"]] == ["now"]
        assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        # A visibility timeout of 0 makes it visible again at once
        handle = first["Messages"][0]["ReceiptHandle"]
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        time.sleep(0.002)
        again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        assert [m["Body"] for m in again["Messages"]] == ["now"]
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert counts["ApproximateNumberOfMessagesDelayed"] == "1"


def test_routing_remembers_motos_own_answer_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from relay_devtools.local import moto_tuning

    hosts = [
        None,
        "moto_api",
        "sqs",
        "dynamodb.us-east-1.amazonaws.com",
        "sqs.eu-west-1.amazonaws.com",
        "secretsmanager.us-east-1.amazonaws.com",
        "example.org",
    ]
    motos_own = moto_tuning._BACKEND_FOR_HOST
    plain = DomainDispatcherApplication(create_backend_app)
    expected = [motos_own(plain, host) for host in hosts]
    asked: list[str | None] = []

    def counted(app: DomainDispatcherApplication, host: str | None) -> object:
        asked.append(host)
        return motos_own(app, host)

    monkeypatch.setattr(moto_tuning, "_BACKEND_FOR_HOST", counted)
    monkeypatch.setattr(
        DomainDispatcherApplication, "get_backend_for_host", DomainDispatcherApplication.get_backend_for_host
    )
    moto_tuning.speed_up_routing()
    tuned = DomainDispatcherApplication(create_backend_app)
    # moto's own answers, each host worked out once however often it is asked
    assert [tuned.get_backend_for_host(host) for host in hosts] == expected
    assert [tuned.get_backend_for_host(host) for host in hosts] == expected
    assert asked == hosts
    assert expected[3] == "dynamodb" and expected[4] == "sqs"
