"""What both HTTP clients (the partner's, relay.northca.client, and PRC's, relay.erlc.client) share:
reading a Retry-After header, and a JSON answer read so that nothing in it can raise."""

from __future__ import annotations

import email.utils
import json
import re
from datetime import UTC, datetime
from typing import Any

_DIGITS = re.compile(r"^\s*\d+(\.\d+)?\s*$")
MAX_RETRY_AFTER_SECONDS = 3600.0


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds (fractions tolerated) or an HTTP date.

    Garbage and negative values give None (the caller picks its own backoff), never an exception.
    """
    if value is None:
        return None
    text = value.strip()
    if _DIGITS.match(text):
        return min(float(text), MAX_RETRY_AFTER_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - now).total_seconds(), 0.0), MAX_RETRY_AFTER_SECONDS)


def json_or_none(data: bytes | None) -> Any:
    """An answer's JSON, or None for one that is empty, not JSON, not UTF-8 or nested too deep."""
    try:
        return json.loads(data or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None
