"""Issue 21, a new user beside `relay local`: the commands find the running stack on any port, the
partner's reason for a refused MDT reaches `relay sign --wait` and the page, a wrong secret says why,
doctor checks the local stack, secrets push rehearses against it, an edited relay.toml is read again,
and a redriven delivery shows its latest outcome first.

One stack in this process on free ports, against a Northca emulator this module owns: it links the
`cad` source's MDT to its guild, and not the `stranger` source's (an MDT not linked yet: the most
likely first real failure)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from relay_devtools.cli import main
from relay_devtools.deliveries.feed import fetch_feed
from relay_devtools.emulators.northca import NorthcaEmulator
from relay_devtools.local import state
from relay_devtools.local.stack import LocalOptions, LocalStack
from relay_devtools.local.watch import FileWatch
from tests.support.constants import CAD_SECRET, GUILD, MDT, PARTNER_KEY, ROOT

STRANGER_GUILD = "555555555555555555"
STRANGER_SECRET = "whsec_c3RyYW5nZXItc2VjcmV0LWZvci10ZXN0cy0xMjM0"
CONFIG = f"""
[northca]
partner_key_secret = "northca/partner-key"

[sources.cad]
adapter = "units"
mdt_id = "{MDT}"
guild_id = "{GUILD}"
signature = {{ scheme = "standard-webhooks", secret = "relay/sources/cad" }}

[sources.stranger]
adapter = "units"
mdt_id = "{MDT}"
guild_id = "{STRANGER_GUILD}"
signature = {{ scheme = "standard-webhooks", secret = "relay/sources/stranger" }}
"""
SECRETS = (
    f'[secrets]\n"northca/partner-key" = "{PARTNER_KEY}"\n"relay/sources/cad" = "{CAD_SECRET}"\n'
    f'"relay/sources/stranger" = "{STRANGER_SECRET}"\n'
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    from relay.handlers import wiring

    saved = dict(os.environ)
    workdir = tmp_path_factory.mktemp("newcomer")
    (workdir / "relay.toml").write_text(CONFIG)
    (workdir / "relay.secrets.toml").write_text(SECRETS)
    partner = NorthcaEmulator(partner_keys=[PARTNER_KEY], links={MDT: [GUILD]})
    wiring.reset()
    stack = LocalStack(
        LocalOptions(
            config=workdir / "relay.toml",
            secrets=workdir / "relay.secrets.toml",
            template=ROOT / "template.yaml",
            port=0,
            northca_url=partner.start("127.0.0.1", 0),
            window_seconds=0.2,
            state_file=workdir / ".local" / "relay-local.json",
        )
    )
    stack.emulator = partner  # stopped with the stack
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        wiring.reset()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def beside(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    """The commands run as in the folder where `relay local` runs (they find it by its state file)."""
    assert stack.options.state_file is not None
    monkeypatch.setattr(state, "DEFAULT_STATE_FILE", stack.options.state_file)
    return stack


def feed(stack: LocalStack, source: str) -> list[dict[str, Any]]:
    return fetch_feed(f"{stack.feed_url}/deliveries?source={source}")


def settled(stack: LocalStack, webhook_id: str, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        found = next((d for d in feed(stack, "") if d["webhook_id"] == webhook_id), {})
        if (found and found["outcome"] not in ("queued", "retrying")) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_sign_and_units_find_the_stack_on_its_ports_with_no_flags(
    beside: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a stack on ports chosen at random and files in another folder, when the README's commands run
    assert main(["sign", "cad", "--send", "--wait"]) == 0
    assert main(["units", "cad"]) == 0
    # Then they reached it: the unit is written and listed
    out = capsys.readouterr().out
    assert "\nwritten\n" in out
    assert '"id": "ADAM-12"' in out


def test_an_mdt_not_linked_to_the_guild_gives_the_partners_reason_at_once(
    beside: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # When a source whose MDT is not linked to its guild sends, and the sender waits for the outcome
    code = main(["sign", "stranger", "--send", "--wait", "--wait-seconds", "120"])
    captured = capsys.readouterr()
    # Then it is told after the consumer's first try (the wait ends there, not at "no outcome after
    # 120 s"), with the partner's own words and what to do
    assert code == 1
    assert "no outcome after" not in captured.err
    assert "\nretrying\n" in captured.out
    assert "MDT not linked to this guild" in captured.out
    assert "link the MDT to that guild in Northca, or correct guild_id" in captured.out
    # and the page's feed says the same
    [delivery, *_] = feed(beside, "stranger")
    assert "403 MDT not linked to this guild" in delivery["why"]


def test_a_wrong_secret_says_why_the_relay_refused_it(
    beside: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.secrets.toml"
    other.write_text(SECRETS.replace(CAD_SECRET, "whsec_" + "A" * 40))
    assert main(["--secrets", str(other), "sign", "cad", "--send"]) == 1
    captured = capsys.readouterr()
    assert '\n401 {"ok": false, "error": "Unauthorized"}' in "\n" + captured.out
    assert "relay sign: the relay refused the signature: mismatch: no signature matches." in captured.err


def test_doctor_checks_the_running_stack_without_flags(
    beside: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["doctor"])
    out = capsys.readouterr().out
    assert "ok    relay local: checking the relay local running here" in out
    assert f"key accepted; MDT {MDT} linked to guild {GUILD}" in out
    assert f"FAIL  partner: MDT {MDT} is not linked to guild {STRANGER_GUILD}" in out
    assert "ok    queue: " in out and "dlq: " in out
    assert code == 1  # the stranger's MDT is not linked


def test_secrets_push_rehearses_against_the_local_stack(
    beside: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the file a community would push to AWS (real-looking values, no demo ones)
    prod = tmp_path / "prod.secrets.toml"
    prod.write_text(SECRETS)
    # When it is pushed to the relay local running here
    code = main(["secrets", "push", "--secrets", str(prod), "--local", "--yes"])
    out = capsys.readouterr().out
    # Then the same checks ran and the stack's Secrets Manager holds it
    assert code == 0, out
    for name in ("northca/partner-key", "relay/sources/cad", "relay/sources/stranger"):
        assert f"unchanged {name}" in out
    assert "3 of 3 secrets in place for the relay local running here" in out


def test_an_edited_config_is_read_again_or_its_error_said(
    beside: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    config = beside.options.config
    before = config.read_text()
    watch = FileWatch(beside, say=lambda _text: None)
    try:
        # When a typo is saved, it is said at once, and the stack keeps its config
        config.write_text(before + '\n[source.typeform]\nadapter = "typeform"\n')
        said = watch.check_once()
        assert said is not None and "does not load; still serving the config it had" in said
        assert "did you mean 'sources'?" in said
        # When a new source is saved, it is served at once, with a demo secret made for it
        config.write_text(
            before.replace("[sources.stranger]", "[sources.board]").replace("stranger", "board")
        )
        said = watch.check_once()
        assert said is not None and "read again (sources: cad, board)" in said
        assert "demo secrets added for relay/sources/board" in said
        assert (
            main(["sign", "board", "--send", "--body", '{"units": [{"id": "B-2", "status": "10-8"}]}']) == 0
        )
        assert "\n202 " in "\n" + capsys.readouterr().out
    finally:
        config.write_text(before)
        watch.check_once()
