"""`relay local` with an ER:LC server: a player who joins the emulated game as Police appears in the
emulated MDT within two schedule periods (the roster poll runs on its schedule, the consumer PUTs)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import urllib3

from relay.northca.client import NorthcaClient
from relay_devtools.emulators.erlc import player
from relay_devtools.local.stack import LocalOptions, LocalStack
from relay_devtools.webhooks.signing import sign
from tests.support.constants import ROOT

MDT = "5d0e7c1a-8b7f-4c55-9d1e-3f2a6b9c0d11"
GUILD = "987654321098765432"
POLL_SECONDS = 3.0

CONFIG = f"""
[northca]
partner_key_secret = "northca/partner-key"

[erlc.servers.main]
server_key_secret = "relay/erlc/main"
mdt_id = "{MDT}"
guild_id = "{GUILD}"
departments = {{ Police = "Patrol", Sheriff = "Sheriff" }}

[sources.erlc]
adapter = "erlc-events"
mdt_id = "{MDT}"
guild_id = "{GUILD}"
signature = {{ scheme = "ed25519", secret = "relay/sources/erlc" }}
options = {{ server = "main" }}
"""


def _clear_handler_caches() -> None:
    from relay.handlers import wiring

    wiring.reset()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # The local stack points boto3 and the handlers at itself through the environment: restore it after.
    saved = dict(os.environ)
    workdir = tmp_path_factory.mktemp("erlc-local")
    (workdir / "relay.toml").write_text(CONFIG)
    _clear_handler_caches()
    stack = LocalStack(
        LocalOptions(
            config=workdir / "relay.toml",
            secrets=workdir / "relay.secrets.toml",
            template=ROOT / "template.yaml",
            port=0,
            emulator_port=0,
            erlc_emulator_port=0,
            roster_poll_seconds=POLL_SECONDS,
            window_seconds=0.2,
        )
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        _clear_handler_caches()
        os.environ.clear()
        os.environ.update(saved)


def mdt_units(stack: LocalStack) -> dict[str, dict[str, Any]]:
    key = stack.secrets.newest(stack.config.northca.partner_key_secret)
    client = NorthcaClient(stack.northca_url, key)
    return {unit["id"]: unit for unit in client.list_records(MDT, GUILD)}


def wait_for(stack: LocalStack, check: Any, seconds: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + seconds
    units = mdt_units(stack)
    while not check(units) and time.monotonic() < deadline:
        time.sleep(0.2)
        units = mdt_units(stack)
    return units


def test_erlc_local_starts_the_erlc_emulator_and_says_where(stack: LocalStack) -> None:
    assert stack.erlc_emulator is not None
    assert stack.erlc_url.startswith("http://127.0.0.1:")
    assert stack.ready_line().endswith(f" erlc {stack.erlc_url}")


def test_erlc_local_a_police_player_who_joins_appears_in_the_mdt(stack: LocalStack) -> None:
    assert stack.erlc_emulator is not None
    # Given an empty MDT, when a player joins the emulated server as Police with a callsign
    stack.erlc_emulator.add_player(player("B_Bubbleton", 1234567890, "Police", "1a-12"))
    # Then within two schedule periods the MDT lists the unit, on duty in the mapped department
    units = wait_for(stack, lambda found: "1A-12" in found, 2 * POLL_SECONDS)
    assert "1A-12" in units, f"not in the MDT after two schedule periods: {units}"
    unit = units["1A-12"]
    assert (unit["officer_name"], unit["department"], unit["status"]) == ("B_Bubbleton", "Patrol", "10-8")


def test_erlc_local_a_player_who_leaves_goes_off_duty(stack: LocalStack) -> None:
    assert stack.erlc_emulator is not None
    stack.erlc_emulator.add_player(player("ASmith", 2345678901, "Sheriff", "S-31"))
    wait_for(stack, lambda found: "S-31" in found, 2 * POLL_SECONDS)
    # When the player leaves the server
    stack.erlc_emulator.remove_player(2345678901)
    # Then once two polls in a row missed them (within three schedule periods) the unit is off duty
    units = wait_for(stack, lambda found: found.get("S-31", {}).get("status") == "10-7", 4 * POLL_SECONDS)
    assert units["S-31"]["status"] == "10-7"


def test_erlc_local_a_player_who_joins_and_types_at_once_ends_at_their_status(stack: LocalStack) -> None:
    assert stack.erlc_emulator is not None
    # Given a player who just joined the emulated server
    stack.erlc_emulator.add_player(player("Lindqvist_30", 3030303030, "Police", "1A-07"))
    # When they type ;10-6 at once (the ingress looks the server up, or the poll has just found them)
    source = stack.config.sources["erlc"]
    now = datetime.now(UTC)
    body = {
        "Type": "CustomCommand",
        "Timestamp": now.timestamp(),
        "Data": {"Player": "Lindqvist_30:3030303030", "Command": ";10-6"},
    }
    key = stack.secrets.signing_keys["relay/sources/erlc"]
    delivery = sign(source.signature, json.dumps(body).encode(), "", now=now, private_key=key)
    answer = urllib3.PoolManager(retries=False).request(
        "POST", f"{stack.ingress_url}/erlc", body=delivery.body, headers=delivery.headers, timeout=10
    )
    assert answer.status == 202, answer.data
    # Then the MDT ends at the status they typed, not the join's 10-8
    units = wait_for(stack, lambda found: found.get("1A-07", {}).get("status") == "10-6", 2 * POLL_SECONDS)
    assert units["1A-07"]["status"] == "10-6"


# ------------------------------------------------------------------ emergencies (issue 18, ER:LC)


def northca_held(stack: LocalStack, what: str) -> list[dict[str, Any]]:
    """The calls or panics the emulated MDT holds (the Northca emulator's control route)."""
    answer = urllib3.PoolManager(retries=False).request(
        "GET", f"{stack.northca_url.removesuffix('/v1')}/_emulator/{what}/{MDT}", timeout=10
    )
    assert answer.status == 200, answer.data
    found: list[dict[str, Any]] = json.loads(answer.data)["data"]
    return found


def wait_until(check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    found = check()
    while not found and time.monotonic() < deadline:
        time.sleep(0.2)
        found = check()
    return found


def erlc_control(stack: LocalStack, method: str, path: str, body: Any = None) -> Any:
    """What a `relay local` user does with curl: the emulated server's calls, over HTTP."""
    data = None if body is None else json.dumps(body).encode()
    answer = urllib3.PoolManager(retries=False).request(
        method, f"{stack.erlc_url}/_emulator/{path}", body=data, timeout=10
    )
    assert answer.status == 200, answer.data
    return json.loads(answer.data)


def test_erlc_local_a_panic_command_reaches_the_emulated_mdts_panics(stack: LocalStack) -> None:
    assert stack.erlc_emulator is not None
    # Given an officer on the emulated server
    stack.erlc_emulator.add_player(player("Kim_32", 3232323232, "Police", "1A-32"))
    # When they type ;panic (the Event Webhook, signed as PRC signs it)
    source = stack.config.sources["erlc"]
    now = datetime.now(UTC)
    body = {
        "Type": "CustomCommand",
        "Timestamp": now.timestamp(),
        "Data": {"Player": "Kim_32:3232323232", "Command": ";panic"},
    }
    key = stack.secrets.signing_keys["relay/sources/erlc"]
    delivery = sign(source.signature, json.dumps(body).encode(), "", now=now, private_key=key)
    answer = urllib3.PoolManager(retries=False).request(
        "POST", f"{stack.ingress_url}/erlc", body=delivery.body, headers=delivery.headers, timeout=10
    )
    assert answer.status == 202, answer.data
    # Then the emulated MDT holds the unit's panic
    panics = wait_until(
        lambda: [p for p in northca_held(stack, "panics") if p["unit_id"] == "1A-32"], 2 * POLL_SECONDS
    )
    assert len(panics) == 1, northca_held(stack, "panics")


def test_erlc_local_an_emergency_call_becomes_a_northca_call_and_closes_when_it_ends(
    stack: LocalStack,
) -> None:
    # Given a civilian who dials 911 on the emulated server, and an officer who answers
    opened = erlc_control(
        stack,
        "POST",
        "calls",
        {"Team": "Police", "Caller": 5656565656, "Description": "Shots fired", "PositionDescriptor": "Bank"},
    )
    call_id = f"erlc:main.{opened['CallNumber']}-{opened['StartedAt']}"

    def the_call() -> dict[str, Any] | None:
        return next((c for c in northca_held(stack, "calls") if c["id"] == call_id), None)

    # Then the roster poll makes it a Northca call
    created = wait_until(the_call, 3 * POLL_SECONDS)
    assert created is not None, northca_held(stack, "calls")
    assert (created["status"], created["description"], created["location"], created["call_type"]) == (
        "open",
        "Shots fired",
        "Bank",
        "Police",
    )
    # When the call ends in game, it is closed (once two polls in a row did not list it)
    erlc_control(stack, "DELETE", f"calls/{opened['CallNumber']}")
    closed = wait_until(lambda: (c := the_call()) is not None and c["status"] == "closed", 5 * POLL_SECONDS)
    assert closed, the_call()
    assert [c["id"] for c in northca_held(stack, "calls")].count(call_id) == 1
