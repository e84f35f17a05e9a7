"""The Northca client against the emulator over loopback HTTP: every answer becomes one typed result."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from relay.errors import (
    NorthcaAuthError,
    NorthcaConnectionError,
    NorthcaError,
    NorthcaForbiddenError,
    NorthcaInvalidRequestError,
    NorthcaServerError,
    NorthcaThrottledError,
    NorthcaTimeoutError,
)
from relay.northca.client import NorthcaClient
from relay.ports.partner import UnitRecord
from relay_devtools.emulators.northca import NorthcaEmulator
from tests.support.clocks import FixedClock
from tests.support.constants import ACTOR, GUILD, MDT, NOW, PARTNER_KEY

FIELDS = {"officer_name": "B. Bubbleton", "officer_badge": "512", "department": "Patrol", "rank": "PO",
          "status": "10-8"}  # fmt: skip
UNIT = UnitRecord("ADAM-12", FIELDS)


@pytest.fixture
def emulator() -> Iterator[NorthcaEmulator]:
    with NorthcaEmulator(partner_keys=[PARTNER_KEY], links={MDT: [GUILD]}) as running:
        yield running


@pytest.fixture
def client(emulator: NorthcaEmulator) -> NorthcaClient:
    # Timeouts far above any answer's time on a loaded machine: only a fault makes a call time out.
    return NorthcaClient(
        emulator.base_url, PARTNER_KEY, connect_timeout=5.0, read_timeout=10.0, clock=FixedClock()
    )


def test_northca_client_upserts_and_lists(client: NorthcaClient, emulator: NorthcaEmulator) -> None:
    result = client.upsert_units(MDT, GUILD, [UNIT], ACTOR)
    assert result.confirmed == {"ADAM-12"}
    listed = client.list_units(MDT, GUILD)
    assert listed["ADAM-12"].fields == FIELDS
    assert listed["ADAM-12"].updated_at is not None
    # And the actor travelled as x-discord-actor, the key never in the log
    request = emulator.requests()[0]
    assert request["headers"]["x-discord-actor"] == ACTOR
    assert request["headers"]["x-partner-key"] == "***"


def test_northca_client_wrong_key_is_an_auth_error(emulator: NorthcaEmulator) -> None:
    client = NorthcaClient(emulator.base_url, "not-the-key")
    with pytest.raises(NorthcaAuthError) as caught:
        client.upsert_units(MDT, GUILD, [UNIT])
    assert (caught.value.status, caught.value.message) == (401, "Unauthorized")


def test_northca_client_unlinked_guild_is_forbidden(client: NorthcaClient) -> None:
    with pytest.raises(NorthcaForbiddenError) as caught:
        client.upsert_units(MDT, "999999999999999999", [UNIT])
    assert caught.value.message == "MDT not linked to this guild"


def test_northca_client_refused_body_is_an_invalid_request(client: NorthcaClient) -> None:
    with pytest.raises(NorthcaInvalidRequestError) as caught:
        client.upsert_units(MDT, GUILD, [UNIT, UNIT])
    assert caught.value.message == "Duplicate unit id in request body"
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        ("1.5", 1.5),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        ("999999", 3600.0),
        ("-1", None),
        ("soon", None),
        (None, None),
    ],
    ids=["seconds", "fraction", "http-date", "huge-capped", "negative", "garbage", "absent"],
)
def test_northca_client_throttle_carries_the_parsed_retry_after(
    client: NorthcaClient, emulator: NorthcaEmulator, header: str | None, expected: float | None
) -> None:
    fault: dict[str, Any] = {"kind": "throttle", "status": 429}
    if header is not None:
        fault["retry_after"] = header
    emulator.add_faults([fault])
    with pytest.raises(NorthcaThrottledError) as caught:
        client.upsert_units(MDT, GUILD, [UNIT])
    assert caught.value.status == 429
    assert caught.value.retry_after == expected
    assert caught.value.retryable


def test_northca_client_503_is_a_throttle_too(client: NorthcaClient, emulator: NorthcaEmulator) -> None:
    emulator.add_faults([{"kind": "throttle", "status": 503, "retry_after": "3"}])
    with pytest.raises(NorthcaThrottledError) as caught:
        client.upsert_units(MDT, GUILD, [UNIT])
    assert (caught.value.status, caught.value.retry_after) == (503, 3.0)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"kind": "status", "status": 500}, NorthcaServerError),
        ({"kind": "status", "status": 502}, NorthcaServerError),
        ({"kind": "status", "status": 200}, NorthcaServerError),  # 2xx without the ok envelope
        # The fault holds the request far longer than the read timeout (stop() releases it).
        ({"kind": "timeout", "seconds": 60.0}, NorthcaTimeoutError),
        ({"kind": "drop"}, NorthcaConnectionError),
        ({"kind": "apply_then_drop"}, NorthcaConnectionError),
    ],
    ids=["500", "502", "200-not-ok", "timeout", "dropped", "applied-then-dropped"],
)
def test_northca_client_transient_failures_are_typed_and_retryable(
    client: NorthcaClient, emulator: NorthcaEmulator, fault: dict[str, Any], error: type[NorthcaError]
) -> None:
    emulator.add_faults([fault])
    impatient = NorthcaClient(emulator.base_url, PARTNER_KEY, connect_timeout=5.0, read_timeout=1.0)
    with pytest.raises(error) as caught:
        impatient.upsert_units(MDT, GUILD, [UNIT])
    assert caught.value.retryable
    # And the client is usable right after (no retry hidden inside it: exactly one request per call)
    before = len(emulator.requests())
    client.upsert_units(MDT, GUILD, [UNIT])
    assert len(emulator.requests()) == before + 1


def test_northca_client_applied_then_dropped_put_did_change_the_partner(
    client: NorthcaClient, emulator: NorthcaEmulator
) -> None:
    # The uncertain case the consumer must treat as "maybe written": the partner did store it
    emulator.add_faults([{"kind": "apply_then_drop"}])
    with pytest.raises(NorthcaConnectionError):
        client.upsert_units(MDT, GUILD, [UNIT])
    assert emulator.units(MDT)["ADAM-12"]["status"] == "10-8"


def test_northca_client_refused_connection_is_a_connection_error() -> None:
    # A port nothing listens on (the emulator, stopped)
    with NorthcaEmulator(partner_keys=[PARTNER_KEY], links={MDT: [GUILD]}) as stopped:
        url = stopped.base_url
    with pytest.raises(NorthcaConnectionError):
        NorthcaClient(url, PARTNER_KEY, connect_timeout=0.5).upsert_units(MDT, GUILD, [UNIT])


def test_northca_client_key_is_never_sent_to_another_host_on_redirect() -> None:
    # Given a server that answers every request with a redirect to another host
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Redirecting(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            self.send_response(307)
            self.send_header("location", "http://127.0.0.2:9/v1/steal")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = NorthcaClient(f"http://127.0.0.1:{server.server_address[1]}/v1", PARTNER_KEY)
        # When a PUT is redirected, then it is not followed: a typed error, the key stays here
        with pytest.raises(NorthcaServerError, match="redirect"):
            client.upsert_units(MDT, GUILD, [UNIT])
    finally:
        server.shutdown()
        server.server_close()


def test_northca_client_uses_the_injected_clock_for_http_dates(emulator: NorthcaEmulator) -> None:
    clock = FixedClock(datetime(2030, 1, 1, tzinfo=UTC))
    client = NorthcaClient(emulator.base_url, PARTNER_KEY, clock=clock)
    emulator.add_faults(
        [{"kind": "throttle", "retry_after": format_datetime(clock.now + timedelta(seconds=7), usegmt=True)}]
    )
    with pytest.raises(NorthcaThrottledError) as caught:
        client.upsert_units(MDT, GUILD, [UNIT])
    assert caught.value.retry_after == 7.0
