"""Issue 18's acceptance, as a user runs it: `relay local` with a Sonoran source, then `relay sign` of a
login, a panic and a 911 call (and its removal): the emulated MDT holds the panic and the call (`relay
calls`), and the deliveries page says what became of each. The same for ER:LC's Event Webhook: its
emergency-call sample becomes the server's call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.constants import EVENTS, GUILD, MDT
from tests.support.local import LocalProcess, get, relay_cli, start_relay_local

SONORAN = f"""
[sources.sonoran]
adapter = "sonoran"
mdt_id = "{MDT}"
guild_id = "{GUILD}"
signature = {{ scheme = "body-key", secret = "relay/sources/sonoran" }}

[erlc.servers.main]
server_key_secret = "relay/erlc/main"
mdt_id = "{MDT}"
guild_id = "{GUILD}"

[sources.erlc]
adapter = "erlc-events"
mdt_id = "{MDT}"
guild_id = "{GUILD}"
signature = {{ scheme = "ed25519", secret = "relay/sources/erlc" }}
options = {{ server = "main" }}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProcess]:
    local = start_relay_local(
        tmp_path_factory.mktemp("emergencies"), "--erlc-emulator-port", "0", config_text=SONORAN
    )
    try:
        yield local
    finally:
        local.stop()


def sign(stack: LocalProcess, *args: str, source: str = "sonoran") -> str:
    common = ["--config", str(stack.config), "--secrets", str(stack.secrets)]
    sent = relay_cli(
        *common, "sign", source, *args, "--send", "--wait", "--url", stack.base, cwd=stack.workdir
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    return sent.stdout


def held(stack: LocalProcess) -> dict[str, list[dict[str, object]]]:
    common = ["--config", str(stack.config), "--secrets", str(stack.secrets)]
    listed = relay_cli(*common, "calls", "sonoran", "--northca-url", stack.northca, cwd=stack.workdir)
    assert listed.returncode == 0, listed.stderr
    result: dict[str, list[dict[str, object]]] = json.loads(listed.stdout)
    return result


def test_a_sonoran_panic_and_a_911_call_reach_the_emulated_mdt_and_the_page(stack: LocalProcess) -> None:
    # Given a unit that logged in (the sender's first sample)
    assert "A-10: written" in sign(stack)
    # When it presses panic, and a 911 call comes in, then is removed
    panic = sign(stack, "--file", str(EVENTS / "sonoran_unit_panic.json"))
    call = sign(stack, "--file", str(EVENTS / "sonoran_event_911.json"))
    removed = sign(stack, "--file", str(EVENTS / "sonoran_remove_911.json"))
    # Then each says what became of it
    assert "panic A-10: written (panic sent for A-10)" in panic
    assert "call 1234: written (created Northca call sonoran.1234)" in call
    assert "call 1234: written (updated Northca call sonoran.1234)" in removed
    # And the MDT holds one closed call and the panic, at the unit's last known location
    mdt = held(stack)
    [record] = mdt["calls"]
    assert (record["id"], record["status"], record["location"]) == (
        "sonoran.1234",
        "closed",
        "1234 E Hawick Ave",
    )
    [pressed] = mdt["panics"]
    assert (pressed["unit_id"], pressed["address"]) == ("A-10", "Sandy Shores")
    # And the page's feed has both
    feed = json.loads(get(f"{stack.base}/_relay/deliveries?source=sonoran")[2])["deliveries"]
    names = {fate["unit_id"]: fate["outcome"] for d in feed for fate in d["fates"]}
    assert names["panic A-10"] == "written" and names["call 1234"] == "written"


def test_an_erlc_emergency_call_signed_as_prc_becomes_the_servers_call(stack: LocalProcess) -> None:
    # When the Event Webhook's emergency-call sample is signed and sent (call 42 of server main)
    sent = sign(stack, "--file", str(EVENTS / "erlc_event_emergency_call.json"), source="erlc")
    # Then it is created as the server's call, under the roster's voice (the poll names the same one)
    assert "call 42-1795867185: written (created Northca call erlc:main.42-1795867185)" in sent, sent
    [record] = [c for c in held(stack)["calls"] if c["id"] == "erlc:main.42-1795867185"]
    assert (record["status"], record["location"], record["call_type"]) == (
        "open",
        "Springfield Bank",
        "Police",
    )


def test_relay_calls_without_a_stack_says_what_to_do(tmp_path: Path) -> None:
    from tests.support.constants import ROOT

    (tmp_path / "relay.toml").write_text((ROOT / "relay.toml").read_text())
    result = relay_cli("calls", "cad", "--northca-url", "http://127.0.0.1:9/v1", cwd=tmp_path)
    assert result.returncode == 1
    assert "is `relay local` (its Northca emulator) running?" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_sonoran_panic_of_an_unknown_identid_is_in_the_dlq_with_its_reason(
    stack: LocalProcess, tmp_path: Path
) -> None:
    # Given a panic of an identId no login made known
    body = tmp_path / "panic.json"
    panic = {"type": "EVENT_UNIT_PANIC", "data": [{"identIds": [4242], "isPanic": True}]}
    body.write_text(json.dumps({"key": "sonoran-community-api-key", **panic}))
    common = ["--config", str(stack.config), "--secrets", str(stack.secrets)]
    # When Sonoran sends it
    sent = relay_cli(
        *common, "sign", "sonoran", "--file", str(body), "--send", "--url", stack.base, cwd=stack.workdir
    )
    # Then it is acknowledged, and the admin's `relay redrive --list` shows it with who, when and the fix
    assert sent.returncode == 0 and sent.stdout.startswith("202 "), sent.stdout + sent.stderr
    listed = relay_cli("redrive", "--list", cwd=stack.workdir)
    assert listed.returncode == 0, listed.stderr
    assert "panic of Sonoran identId 4242 (source sonoran) pressed" in listed.stdout, listed.stdout
    assert "the unit must log in (or be updated) in Sonoran again" in listed.stdout
