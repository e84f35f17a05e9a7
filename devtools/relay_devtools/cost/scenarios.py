"""The bill in the three cases docs/cost.md compares: a million webhooks with nothing fixed, EventBridge
Pipes with API destinations doing one call per webhook, and a stranger's flood at the API's throttle."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from relay_devtools.cost.model import (
    DAYS,
    GB,
    HOURS,
    PLATFORM_BYTES,
    Bill,
    Line,
    Month,
    TemplateFacts,
    Usage,
    monthly_bill,
    price,
    step_counts,
)


def per_million(counted: Mapping[str, Any], facts: TemplateFacts, base: Usage) -> Bill:
    """What a million webhooks of `base`'s mix add, with no free tier and nothing fixed (no secrets,
    alarms, poller); `base`'s what-ifs apply."""
    usage = replace(
        base,
        webhooks_per_day=1e6 / DAYS,
        erlc_servers=0,
        secrets=0,
        active_hours_per_day=24,
        alarm_email=False,
        discord=False,
        alarm_topic_key=False,
        apply_free_tier=False,
    )
    bill = monthly_bill(counted, usage, facts)
    fixed = ("secrets", "alarm metrics", "point-in-time", "its idle polling")
    lines = [line for line in bill.lines if line.what not in fixed and "idle polling" not in line.what]
    lines = [line for line in lines if not line.what.startswith(("dashboard", "point-in-time"))]
    # Lambda's polling while idle is a fixed cost too: only its receives and deletes per batch remain.
    month = Month(counted, usage, facts)
    sends = sum(month._sum("sqs_requests").values()) + 2 * month.invocations()["consumer"]
    lines.append(
        Line(
            "SQS",
            "requests: sends, Lambda's receives and deletes",
            sends,
            "request",
            price("sqs_requests", sends, False),
        )
    )
    return Bill(lines)


def pipes_per_million() -> Bill:
    """EventBridge Pipes + API destinations doing one call per webhook: the API (an HTTP API straight
    into SQS), the queue's send, receive and delete, the pipe's request and the destination's call."""
    return Bill(
        [
            Line(
                "API Gateway",
                "HTTP API requests (straight into SQS)",
                1e6,
                "request",
                price("api_requests", 1e6, False),
            ),
            Line("SQS", "send, Pipes' receive and delete", 3e6, "request", price("sqs_requests", 3e6, False)),
            Line("EventBridge", "Pipes requests", 1e6, "request", price("pipes_requests", 1e6, False)),
            Line(
                "EventBridge",
                "API destination invocations",
                1e6,
                "invocation",
                price("api_destinations", 1e6, False),
            ),
        ]
    )


def flood(counted: Mapping[str, Any], facts: TemplateFacts, rate_per_second: float, body_mb: float) -> Bill:
    """A stranger sending as fast as the API's throttle admits, every request refused (401) by the
    ingress: a month of it, no free tier. A body over Lambda's 6 MB payload limit never reaches it."""
    requests = rate_per_second * HOURS * 3600
    units = max(1, math.ceil(body_mb * 1024 / 512))  # HTTP APIs meter each 512 KB
    refused = step_counts(counted, "refused", "ingress")
    invoked = requests if body_mb <= 6 else 0.0
    log_bytes = (
        invoked * (float(refused.get("log_bytes", 0)) + PLATFORM_BYTES) + requests * facts.access_log_bytes
    )
    lines = [
        Line(
            "API Gateway",
            f"requests of {body_mb:g} MB ({units} units each)",
            requests * units,
            "request",
            price("api_requests", requests * units, False),
        ),
        Line("Lambda", "requests", invoked, "request", price("lambda_requests", invoked, False)),
        Line(
            "Lambda",
            "GB-seconds",
            invoked * 0.02 * facts.memory_gb,
            "GB-second",
            price("lambda_gb_seconds", invoked * 0.02 * facts.memory_gb, False),
        ),
        Line(
            "CloudWatch Logs",
            "ingested",
            log_bytes / GB,
            "GB",
            price("logs_ingested", log_bytes / GB, False),
        ),
    ]
    return Bill(lines)
