"""`relay local` with an ER:LC server: a player who joins the emulated game as Police appears in the
emulated MDT within two schedule periods (the roster poll runs on its schedule, the consumer PUTs)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from relay.northca.client import NorthcaClient
from relay_devtools.emulators.erlc import player
from relay_devtools.local.stack import LocalOptions, LocalStack
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
    # Then within two schedule periods the unit gets the off-duty status
    units = wait_for(stack, lambda found: found.get("S-31", {}).get("status") == "10-7", 2 * POLL_SECONDS)
    assert units["S-31"]["status"] == "10-7"
