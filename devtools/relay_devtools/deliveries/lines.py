"""The relay's log lines as the delivery reader (trail.py) takes them: one log event's text as a record,
its time, and each key in the shape the relay writes it. A key in another shape (a log group anyone with
access can write to, a line cut short) raises OddLineError: the reader skips that line and counts it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def record_time(record: Mapping[str, Any]) -> datetime:
    """A record's instant: CloudWatch's event time when given, else Powertools' own timestamp. Raises
    ValueError or OverflowError for a time no calendar holds (the reader skips that line)."""
    millis = record.get("@timestamp_ms")
    if isinstance(millis, int | float) and not isinstance(millis, bool):
        return datetime.fromtimestamp(millis / 1000, UTC)
    text = str(record.get("timestamp") or "")
    try:
        # Powertools writes "2026-11-28 12:00:00,123+0000".
        moment = datetime.fromisoformat(text.replace(",", "."))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_log_message(text: str) -> dict[str, Any] | None:
    """One log event's text as a record: a Powertools JSON line (or Lambda's JSON wrapper around one)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    inner = data.get("message")
    if isinstance(inner, dict):  # Lambda's JSON log format around a structured message
        return {**data, **inner}
    return data


class OddLineError(ValueError):
    """A known line with a key in a shape the relay never writes."""


def texts(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise OddLineError(f"a list was expected, not {type(value).__name__}")
    return [str(item) for item in value]


def pairs(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise OddLineError(f"an object was expected, not {type(value).__name__}")
    return {str(k): str(v) for k, v in value.items()}


def count(value: Any) -> int:
    if value in (None, ""):
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) <= 9:
        return int(value)
    raise OddLineError(f"a count was expected, not {type(value).__name__}")


def status_code(value: Any) -> int | None:
    """An HTTP status as the ingress logs it; None for anything else."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return int(text) if len(text) == 3 and text.isdigit() else None


def rows(value: Any) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise OddLineError(f"units: a list was expected, not {type(value).__name__}")
    return [row for row in value if isinstance(row, Mapping)]


def checked_row(row: dict[str, Any]) -> dict[str, Any]:
    """One unit outcome, its shapes checked before anything of it is applied."""
    for key in ("sources", "webhook_ids"):
        texts(row.get(key))
    for key in ("fields", "written"):
        pairs(row.get(key))
    return row
