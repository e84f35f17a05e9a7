"""A deployed stack's delivery trail: the relay's log lines in its functions' log groups (CloudWatch
Logs; operations/stack.py names the groups), for the one reader (trail.py). The client is passed in."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from relay_devtools.deliveries.trail import parse_log_message

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str) -> timedelta:
    """`30m`, `1h`, `2d`, `45s`."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 30m, 1h or 2d")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def read_records(
    logs: Any, groups: Iterable[str], start_ms: int, end_ms: int | None = None
) -> list[dict[str, Any]]:
    """Every relay log line in the groups since `start_ms`, with CloudWatch's event time (ms) as
    `@timestamp_ms`. FilterLogEvents, not Logs Insights: it pages through everything, with no
    query to wait for. A group that does not exist (a function never invoked) has no lines."""
    records: list[dict[str, Any]] = []
    for group in groups:
        options: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
        if end_ms is not None:
            options["endTime"] = end_ms
        try:
            for page in logs.get_paginator("filter_log_events").paginate(**options):
                for event in page.get("events", []):
                    record = parse_log_message(str(event.get("message", "")))
                    if record is not None and "message" in record:
                        records.append(record | {"@timestamp_ms": int(event.get("timestamp", 0))})
        except logs.exceptions.ResourceNotFoundException:
            continue
    return records
