"""CloudWatch alarm notifications as the alarm topic hands them to the notifier (SNS -> Lambda events)."""

from __future__ import annotations

import json
from typing import Any

TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:northca-relay-AlarmTopic-1ABC"
ALARM_ARN = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:northca-relay-consumer-errors"
WEBHOOK_SECRET = "relay/alerts/discord"
WEBHOOK_TOKEN = "Zm9vYmFyLXRva2VuLXRoYXQtaXMtc2VjcmV0"
WEBHOOK_PATH = f"/api/webhooks/1234567890/{WEBHOOK_TOKEN}"


def alarm_message(**overrides: Any) -> dict[str, Any]:
    """CloudWatch's alarm notification (the SNS Message, decoded), a metric alarm going into ALARM."""
    message: dict[str, Any] = {
        "AlarmName": "northca-relay-consumer-errors",
        "AlarmDescription": "The consumer function failed (Lambda Errors).",
        "AWSAccountId": "123456789012",
        "AlarmConfigurationUpdatedTimestamp": "2026-11-28T11:00:00.000+0000",
        "NewStateValue": "ALARM",
        "NewStateReason": (
            "Threshold Crossed: 1 out of the last 1 datapoints [3.0 (28/11/26 11:55:00)] was greater "
            "than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition)."
        ),
        "StateChangeTime": "2026-11-28T12:00:00.123+0000",
        "Region": "EU (Ireland)",
        "AlarmArn": ALARM_ARN,
        "OldStateValue": "OK",
        "OKActions": [TOPIC_ARN],
        "AlarmActions": [TOPIC_ARN],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": "Errors",
            "Namespace": "AWS/Lambda",
            "StatisticType": "Statistic",
            "Statistic": "SUM",
            "Unit": None,
            "Dimensions": [{"value": "northca-relay-consumer", "name": "FunctionName"}],
            "Period": 300,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0.0,
            "TreatMissingData": "notBreaching",
            "EvaluateLowSampleCountPercentile": "",
        },
    }
    message.update(overrides)
    return message


def sns_record(message: str, subject: str | None = None) -> dict[str, Any]:
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": f"{TOPIC_ARN}:0f4c1d2e-aaaa-bbbb-cccc-123456789012",
        "Sns": {
            "Type": "Notification",
            "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
            "TopicArn": TOPIC_ARN,
            "Subject": subject,
            "Message": message,
            "Timestamp": "2026-11-28T12:00:00.456Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertUrl": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000.pem",
            "UnsubscribeUrl": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": {},
        },
    }


def alarm_event(**overrides: Any) -> dict[str, Any]:
    """The Lambda event for one alarm notification."""
    message = alarm_message(**overrides)
    subject = f'{message["NewStateValue"]}: "{message["AlarmName"]}" in {message["Region"]}'
    return {"Records": [sns_record(json.dumps(message), subject[:100])]}
