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

# What relay local keeps of the relay's log lines, oldest dropped first: a flood of large lines (a 60 KB
# source name posted 4,000 times grew it to 790 MB) must not grow the process without end.
MAX_BUFFER_BYTES = 32 * 1024 * 1024
# A line larger than CloudWatch Logs takes (256 KB an event) is kept as its message and time only.
MAX_RECORD_BYTES = 256 * 1024
# What such a line keeps.
STUB_KEYS = ("level", "message", "timestamp", "function_request_id", "correlation_id", "source", "status")


class RecordBuffer(logging.Handler):
    """The relay logger's records as the JSON dicts Powertools writes, kept in memory (the newest
    `capacity`, at most `max_bytes` of their JSON text): what `relay local` serves its feed from."""

    def __init__(
        self, formatter: logging.Formatter, capacity: int = 20_000, max_bytes: int = MAX_BUFFER_BYTES
    ) -> None:
        super().__init__(level=logging.INFO)
        self.setFormatter(formatter)
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._records: deque[tuple[int, dict[str, Any]]] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            parsed = parse_log_message(text)
        except Exception:  # noqa: BLE001 - a log line must never break the relay
            return
        if parsed is None:
            return
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_RECORD_BYTES:
            parsed = {key: str(parsed[key])[:256] for key in STUB_KEYS if key in parsed} | {
                "omitted_bytes": size
            }
            size = len(json.dumps(parsed))
        with self._lock:
            self._records.append((size, parsed))
            self._bytes += size
            while self._records and (len(self._records) > self.capacity or self._bytes > self.max_bytes):
                dropped, _ = self._records.popleft()
                self._bytes -= dropped

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [parsed for _, parsed in self._records]

    def size_bytes(self) -> int:
        with self._lock:
            return self._bytes


# Outcomes the consumer may still change: the delivery is not done with.
UNSETTLED = ("queued", "retrying")


def fetch_feed(url: str) -> list[dict[str, Any]]:
    """relay local's `/_relay/deliveries` (a local URL)."""
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - relay local's own feed
        data = json.loads(response.read())
    return list(data.get("deliveries") or [])


def _tried(delivery: dict[str, Any]) -> bool:
    """Given back by the consumer at least once: its reason is known, its next try is a while off."""
    fates = delivery.get("fates") or []
    return delivery.get("outcome") == "retrying" and any(
        isinstance(f, dict) and f.get("outcome") == "retrying" and f.get("attempts") for f in fates
    )


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
    once the consumer has tried it and given it back (`retrying`, with the reason: an MDT the partner
    refuses for this guild would otherwise only time out), or None when neither within `timeout`."""
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
                if delivery.get("outcome") not in UNSETTLED or _tried(delivery):
                    return delivery
                break
        if clock() >= deadline:
            return None
        sleep(every)
