"""`relay local` polls the ER:LC roster once at start, so an in-game command sent before the first
tick of the schedule finds the player (the schedule here is an hour: any poll is the one at start)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from relay.handlers import wiring
from relay_devtools.local.stack import LocalOptions, LocalStack
from tests.support.constants import ROOT

CONFIG = """
[northca]
partner_key_secret = "northca/partner-key"

[erlc.servers.main]
server_key_secret = "relay/erlc/main"
mdt_id = "5d0e7c1a-8b7f-4c55-9d1e-3f2a6b9c0d11"
guild_id = "987654321098765432"
"""


@pytest.fixture
def stack(tmp_path) -> Iterator[LocalStack]:
    # The local stack points boto3 and the handlers at itself through the environment: restore it after.
    saved = dict(os.environ)
    (tmp_path / "relay.toml").write_text(CONFIG)
    wiring.reset()
    stack = LocalStack(
        LocalOptions(
            config=tmp_path / "relay.toml",
            secrets=tmp_path / "relay.secrets.toml",
            template=ROOT / "template.yaml",
            port=0,
            emulator_port=0,
            erlc_emulator_port=0,
            roster_poll_seconds=3600,
        )
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        wiring.reset()
        os.environ.clear()
        os.environ.update(saved)


def test_erlc_first_poll_runs_at_start_not_one_period_later(stack: LocalStack) -> None:
    assert stack.erlc_emulator is not None
    deadline = time.monotonic() + 30
    while not stack.erlc_emulator.requests() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stack.erlc_emulator.requests(), "no roster poll at start"
