"""What a handler told operators: its Powertools log lines and the names of the metrics it emitted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from relay.observability import logger


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """The relay logger's JSON lines, through a second handler with its own formatter (as caplog does)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        yield buffer
    finally:
        logger.removeHandler(handler)


def log_records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def metric_names(printed: str) -> set[str]:
    """The metrics in Powertools' EMF lines (printed on stdout)."""
    return {
        metric["Name"]
        for line in printed.splitlines()
        if line.startswith("{")
        for directive in json.loads(line).get("_aws", {}).get("CloudWatchMetrics", [])
        for metric in directive["Metrics"]
    }
