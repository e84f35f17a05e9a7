"""The Northca client's pure parts: Retry-After parsing, and its urllib3 settings."""

from __future__ import annotations

import ast
import inspect
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import urllib3

import relay.northca.client
from relay.httpclient import MAX_RETRY_AFTER_SECONDS, parse_retry_after
from relay.northca.client import NorthcaClient
from relay.ports.partner import UnitRecord
from tests.support.constants import NOW


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("0", 0.0),
        ("1000", 1000.0),
        ("\t42 ", 42.0),
        ("1.5", 1.5),
        ("99999999", MAX_RETRY_AFTER_SECONDS),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        ("Sat, 28 Nov 2026 12:01:30 GMT", 90.0),
        ("Saturday, 28-Nov-26 12:01:30 GMT", 90.0),  # RFC 850, obsolete but allowed
        ("Sat Nov 28 12:01:30 2026", 90.0),  # asctime, no zone: UTC
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),  # in the past: now
    ],
)
def test_northca_parse_retry_after_accepts_every_form(header: str, seconds: float) -> None:
    assert parse_retry_after(header, NOW) == seconds


@pytest.mark.parametrize("header", [None, "", "-1", "+1", "soon", "²", "1e3", "NaN", "Sat, 99 Foo 2026"])
def test_northca_parse_retry_after_gives_none_for_garbage_never_raises(header: str | None) -> None:
    assert parse_retry_after(header, NOW) is None


def test_northca_client_pool_has_timeouts_and_no_retries_or_redirects() -> None:
    client = NorthcaClient("https://api.northca.dev/v1", "key", connect_timeout=2.0, read_timeout=5.0)
    assert client.timeout.connect_timeout == 2.0
    assert client.timeout.read_timeout == 5.0
    retries = client.pool.connection_pool_kw["retries"]
    assert (retries.total, retries.redirect) == (False, 0)


def test_northca_every_request_call_passes_timeout_retries_and_redirect() -> None:
    # bandit's B113 does not look at urllib3: this test does, on the module's own source
    tree = ast.parse(inspect.getsource(relay.northca.client))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"request", "urlopen"}
    ]
    assert calls
    for call in calls:
        keywords = {k.arg: k.value for k in call.keywords}
        assert {"timeout", "retries", "redirect"} <= set(keywords)
        assert isinstance(keywords["redirect"], ast.Constant) and keywords["redirect"].value is False
        assert isinstance(keywords["retries"], ast.Constant) and keywords["retries"].value is False


def test_northca_client_sends_the_key_only_in_its_header(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: dict[str, Any] = {}

    class Pool:
        def request(self, method: str, url: str, **kwargs: Any) -> urllib3.HTTPResponse:
            sent.update(method=method, url=url, **kwargs)
            return urllib3.HTTPResponse(body=b'{"ok": true, "data": []}', status=200)

    client = NorthcaClient("https://api.northca.dev/v1/", "secret-key", pool=Pool())  # type: ignore[arg-type]
    client.upsert_units("mdt/1", "123", [UnitRecord("A", {})])
    assert sent["url"] == "https://api.northca.dev/v1/mdts/mdt%2F1/units/active"
    assert "secret-key" not in sent["url"]
    assert sent["headers"]["x-partner-key"] == "secret-key"
