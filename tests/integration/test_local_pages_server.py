"""relay local's ingress server over a real socket: its pages answer only their own Host (DNS rebinding),
while webhooks are served whatever the Host (a sender may come through a tunnel)."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

import pytest

from relay.observability import logger
from relay_devtools.deliveries.feed import RecordBuffer
from relay_devtools.emulators.loopback import LoopbackServer
from relay_devtools.local.ingress import feed_pages, make_ingress_server


@pytest.fixture
def server() -> Iterator[tuple[LoopbackServer, list[dict[str, Any]]]]:
    invoked: list[dict[str, Any]] = []

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        invoked.append(event)
        return {"statusCode": 202, "body": '{"ok":true,"data":{}}'}

    pages = feed_pages(RecordBuffer(logger.registered_formatter))
    served = make_ingress_server("127.0.0.1", 0, invoke, 1024, pages)
    served.start("test-local-pages")
    try:
        yield served, invoked
    finally:
        served.stop()


def ask(server: LoopbackServer, method: str, path: str, host: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True)
        connection.putheader("Host", host)
        connection.putheader("Content-Length", "2")
        connection.endheaders(b"{}")
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("path", ["/_relay", "/_relay/deliveries", "/_relay/deliveries?source=cad"])
def test_a_rebound_name_gets_403_and_the_servers_own_host_gets_the_page(server: Any, path: str) -> None:
    served, _ = server
    port = served.server_address[1]
    status, headers, _ = ask(served, "GET", path, f"attacker.example:{port}")
    assert status == 403
    assert headers["X-Frame-Options"] == "DENY"
    status, headers, body = ask(served, "GET", path, f"localhost:{port}")
    assert status == 200 and body
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_a_webhook_is_served_whatever_its_host(server: Any) -> None:
    served, invoked = server
    status, _, _ = ask(served, "POST", "/hooks/cad", "abc123.tunnel.example")
    assert status == 202
    assert len(invoked) == 1
