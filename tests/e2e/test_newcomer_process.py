"""Issue 21, `relay local` as `make run` runs it, stopped with Ctrl-C: a line per delivery on the
terminal (the JSON lines in .local/relay-local.log), a clean stop that says what a restart keeps, a
second Ctrl-C that quits at once, and a restart straight after on the same port."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

from tests.support.local import LocalProcess, relay_cli, start_relay_local


def stopped(local: LocalProcess, *, presses: int = 1) -> str:
    """Ctrl-C (SIGINT) `presses` times, then everything the process printed."""
    assert local.process.stdout is not None
    for _ in range(presses):
        local.process.send_signal(signal.SIGINT)
    rest = local.process.stdout.read()  # what the line reader buffered included (communicate would lose it)
    local.process.wait(timeout=60)
    return "".join(local.output) + rest


def test_ctrl_c_stops_cleanly_and_says_what_survives(tmp_path: Path) -> None:
    local = start_relay_local(tmp_path)
    # Given a delivery made while it ran
    sent = relay_cli("sign", "cad", "--send", "--wait", cwd=tmp_path)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    # When Ctrl-C is pressed
    printed = stopped(local)
    # Then it stops with no traceback, saying what is gone and what is kept, its state file removed
    assert local.process.returncode == 0, printed
    assert "Traceback" not in printed
    assert "relay local stopped. It keeps its state in memory" in printed
    assert "relay.secrets.toml is kept" in printed
    assert not (tmp_path / ".local" / "relay-local.json").exists()
    # and its terminal showed a line per answer and per unit, not the relay's JSON
    assert "  cad  202 accepted  1 change: ADAM-12  msg_" in printed
    assert "  cad  ADAM-12: written " in printed
    assert '{"level"' not in printed and '"_aws"' not in printed
    # while the JSON lines are kept in the log file
    lines = (tmp_path / ".local" / "relay-local.log").read_text().splitlines()
    assert any(json.loads(line)["message"] == "webhook accepted" for line in lines)


def test_a_second_ctrl_c_quits_at_once_without_a_traceback(tmp_path: Path) -> None:
    local = start_relay_local(tmp_path)
    printed = stopped(local, presses=2)
    assert "Traceback" not in printed
    assert local.process.returncode == 0, printed


def test_relay_local_restarts_on_its_port_at_once(tmp_path: Path) -> None:
    # Given a relay local that served a request on a fixed port, then stopped (its socket in TIME-WAIT)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    first = start_relay_local(tmp_path, "--port", str(port))
    assert relay_cli("sign", "cad", "--send", cwd=tmp_path).returncode == 0
    stopped(first)
    # When it is started again straight away on the same port, it starts
    again = start_relay_local(tmp_path, "--port", str(port))
    try:
        assert f"ingress http://127.0.0.1:{port}/hooks" in "".join(again.output)
    finally:
        stopped(again)
