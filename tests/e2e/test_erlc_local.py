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
