"""relay local's delivery feed under floods and hostile pages (issue 20, item 2): the captured log lines
are bounded by bytes, the feed's answer too, and the page and feed answer only their own Host (a page of
another site whose name was rebound to 127.0.0.1 must not read them) with CSP, frame and nosniff headers."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from importlib import resources
from typing import Any

import pytest

from relay.observability import logger
from relay_devtools.deliveries.feed import MAX_RECORD_BYTES, RecordBuffer
from relay_devtools.emulators.loopback import Request
from relay_devtools.local.ingress import MAX_FEED_BYTES, feed_pages, own_host

PORT = 3000


def logged_into(buffer: RecordBuffer, count: int, **extra: Any) -> None:
    python_logger = logging.getLogger(logger.name)
    level = python_logger.level
    python_logger.setLevel(logging.INFO)
    python_logger.addHandler(buffer)
    try:
        for n in range(count):
            logger.info("webhook refused", extra={"status": 404, "n": n, **extra})
    finally:
        python_logger.removeHandler(buffer)
        python_logger.setLevel(level)


def test_the_buffer_is_bounded_by_bytes_and_keeps_the_newest_lines() -> None:
    # Given a buffer of 1 MB, and 400 lines of 60 KB each (a 60 KB source name posted 400 times)
    buffer = RecordBuffer(logger.registered_formatter, max_bytes=1024 * 1024)
    logged_into(buffer, 400, source="x" * 60_000)
    # Then it holds at most 1 MB of lines, the newest ones
    assert buffer.size_bytes() <= 1024 * 1024
    kept = [r["n"] for r in buffer.records()]
    assert kept and kept[-1] == 399 and kept == sorted(kept) and len(kept) < 400


def test_a_line_larger_than_cloudwatch_takes_is_kept_as_its_message_only() -> None:
    buffer = RecordBuffer(logger.registered_formatter)
    logged_into(buffer, 1, error="y" * (MAX_RECORD_BYTES + 10))
    [record] = buffer.records()
    assert record["message"] == "webhook refused"
    assert "error" not in record and record["omitted_bytes"] > MAX_RECORD_BYTES
    assert buffer.size_bytes() < 4096


def request(path: str, host: str = f"127.0.0.1:{PORT}", method: str = "GET") -> Request:
    return Request(method, path, {"host": host}, b"")


def accepted_line(n: int, why_size: int) -> dict[str, Any]:
    return {
        "level": "INFO",
        "message": "webhook accepted",
        "timestamp": f"2026-11-28 12:00:{n % 60:02d},000+0000",
        "function_request_id": f"r{n}",
        "source": "cad",
        "webhook_id": f"w{n}",
        "status": 202,
        "changes": 1,
        "units": ["U" * why_size],
    }


class Lines:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self._records = records

    def records(self) -> list[dict[str, Any]]:
        return self._records


def test_the_feed_is_bounded_by_bytes_and_says_how_many_it_left_out() -> None:
    # Given 300 deliveries of 50 KB each
    pages = feed_pages(Lines([accepted_line(n, 50_000) for n in range(300)]))  # type: ignore[arg-type]
    # When the feed is read
    reply = pages(request("/_relay/deliveries"))
    assert reply is not None and reply.status == 200
    # Then it is at most MAX_FEED_BYTES, newest first, and counts the rest
    assert len(reply.body) <= MAX_FEED_BYTES
    data = json.loads(reply.body)
    assert data["deliveries"][0]["webhook_id"] == "w299"
    assert data["omitted"] == 300 - len(data["deliveries"]) > 0
    assert data["unreadable"] == 0


@pytest.mark.parametrize(
    ("host", "own"),
    [
        (f"127.0.0.1:{PORT}", True),
        (f"localhost:{PORT}", True),
        (f"LOCALHOST:{PORT}", True),
        (f"[::1]:{PORT}", True),
        (f"192.168.1.20:{PORT}", True),
        ("127.0.0.1", False),
        (f"127.0.0.1:{PORT + 1}", False),
        (f"evil.example:{PORT}", False),
        (f"localhost.evil.example:{PORT}", False),
        (f"127.0.0.1.nip.io:{PORT}", False),
        ("", False),
        (f"127.0.0.1:{PORT}:{PORT}", False),
        (f"127.0.0.1:{PORT}\r\nX: y", False),
        (f"user@127.0.0.1:{PORT}", False),
    ],
)
def test_only_the_servers_own_host_is_its_own(host: str, own: bool) -> None:
    assert own_host(host, "127.0.0.1", PORT) is own


def test_the_name_relay_local_was_started_with_is_its_own_too() -> None:
    assert own_host(f"relay.lan:{PORT}", "relay.lan", PORT)
    assert not own_host(f"other.lan:{PORT}", "relay.lan", PORT)


def inline(tag: str, page: str) -> str:
    [body] = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
    return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"


def test_the_page_and_the_feed_send_csp_frame_and_nosniff_headers() -> None:
    pages = feed_pages(Lines([]))  # type: ignore[arg-type]
    page = pages(request("/_relay"))
    feed = pages(request("/_relay/deliveries"))
    assert page is not None and feed is not None
    html = resources.files("relay_devtools.deliveries").joinpath("page.html").read_text(encoding="utf-8")
    for reply in (page, feed):
        headers = dict(reply.headers)
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert headers["Cache-Control"] == "no-store"
    csp = dict(page.headers)["Content-Security-Policy"]
    # The page's own inline script and style run (by their hashes), nothing else does
    assert f"script-src {inline('script', html)}" in csp
    assert f"style-src {inline('style', html)}" in csp
    assert "unsafe-inline" not in csp


def test_relay_locals_terminal_gets_a_senders_control_characters_written_out() -> None:
    from relay_devtools.local.stack import LocalOptions, LocalStack

    # Given relay local capturing the relay's log lines
    stack = LocalStack(LocalOptions())
    formatter = logger.registered_formatter
    hostile = "\x1b[2J\x9b2J\u202eevil\x07"
    record = logging.LogRecord(logger.name, logging.INFO, __file__, 1, "webhook refused", None, None)
    record.error = hostile
    stack._capture_logs()
    try:
        # When a line holding a sender's text is written
        line = formatter.format(record)
    finally:
        stack._release_logs()
    # Then it is ASCII: no control, format or C1 character reaches the terminal, and it reads back whole
    assert line.isascii() and all(c.isprintable() for c in line)
    assert json.loads(line)["error"] == hostile
    # And once relay local stops, the relay's own lines are as Lambda writes them again
    assert "\u202e" in formatter.format(record)
