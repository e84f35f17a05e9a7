"""relay local's delivery feed: the relay's log records captured in-process (`RecordBuffer`, served
at `/_relay/deliveries` beside the page, page.html), and followed from another terminal until a
delivery's outcome is settled (`relay sign --wait`)."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from typing import Any

from relay_devtools.deliveries.trail import parse_log_message


class RecordBuffer(logging.Handler):
    """The relay logger's records as the JSON dicts Powertools writes, kept in memory (the newest
    `capacity`): what `relay local` serves its feed from."""

    def __init__(self, formatter: logging.Formatter, capacity: int = 20_000) -> None:
        super().__init__(level=logging.INFO)
        self.setFormatter(formatter)
        self._records: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            parsed = parse_log_message(self.format(record))
        except Exception:  # noqa: BLE001 - a log line must never break the relay
            return
        if parsed is not None:
            with self._lock:
                self._records.append(parsed)

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._records)


# Outcomes the consumer may still change: the delivery is not done with.
UNSETTLED = ("queued", "retrying")


def fetch_feed(url: str) -> list[dict[str, Any]]:
    """relay local's `/_relay/deliveries` (a local URL)."""
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - relay local's own feed
        data = json.loads(response.read())
    return list(data.get("deliveries") or [])


def wait_for_outcome(
    fetch: Callable[[], list[dict[str, Any]]],
    webhook_id: str | None,
    source: str,
    *,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    every: float = 0.5,
) -> dict[str, Any] | None:
    """The delivery (by webhook id; without one, the source's newest) once its outcome is settled, or
    None when it is not within `timeout` seconds."""
    deadline = clock() + timeout
    while True:
        try:
            feed = fetch()
        except OSError:
            feed = []
        for delivery in feed:
            if delivery.get("source") != source or delivery.get("answer") != "accepted":
                continue
            if webhook_id is None or delivery.get("webhook_id") == webhook_id:
                if delivery.get("outcome") not in UNSETTLED:
                    return delivery
                break
        if clock() >= deadline:
            return None
        sleep(every)
