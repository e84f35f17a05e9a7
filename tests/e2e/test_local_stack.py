"""`relay local` as a user runs it: a subprocess on free ports, a signed webhook, the unit read back."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from relay.northca.client import NorthcaClient
from relay.sources.registry import load_config
from relay_devtools.secrets_file import load_secrets_file
from relay_devtools.signing import sign
from tests.support.constants import ROOT

READY = re.compile(r"relay local ready: ingress (?P<ingress>\S+)/\{source\} northca (?P<northca>\S+)")


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("local")
    config = workdir / "relay.toml"
    shutil.copy(ROOT / "relay.toml", config)
    secrets = workdir / "relay.secrets.toml"
    relay = shutil.which("relay", path=str(Path(sys.executable).parent)) or "relay"
    process = subprocess.Popen(
        [
            relay,
            "local",
            "--config",
            str(config),
            "--secrets",
            str(secrets),
            "--template",
            str(ROOT / "template.yaml"),
            "--port",
            "0",
            "--emulator-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    match = None
    while time.monotonic() < deadline and match is None:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        match = READY.search(line)
    if match is None:
        process.kill()
        pytest.fail("relay local never became ready:\n" + "".join(lines))
    try:
        yield {
            "ingress": match["ingress"],
            "northca": match["northca"],
            "config": config,
            "secrets": secrets,
            "output": lines,
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_local_stack_prints_the_ready_line_and_creates_demo_secrets(local_stack) -> None:
    assert local_stack["secrets"].exists()
    assert local_stack["ingress"].startswith("http://127.0.0.1:")
    assert local_stack["northca"].endswith("/v1")


def test_local_stack_a_signed_webhook_becomes_a_unit_in_the_emulated_mdt(local_stack) -> None:
    # Given the demo source and its secret from the generated secrets file
    config = load_config(local_stack["config"])
    secrets = load_secrets_file(local_stack["secrets"])
    source = config.sources["cad"]
    body = json.dumps({"units": [{"id": "E2E-1", "officer_name": "E. Twoe", "status": "10-8"}]}).encode()
    delivery = sign(source.signature, body, secrets.newest(source.signature.secret))
    # When it is POSTed over HTTP
    status, answer = post(f"{local_stack['ingress']}/cad", delivery.body, delivery.headers)
    assert (status, answer["ok"]) == (202, True)
    # Then within a few seconds the emulated MDT lists the unit, with no field blanked
    client = NorthcaClient(local_stack["northca"], secrets.newest(config.northca.partner_key_secret))
    deadline = time.monotonic() + 30
    units: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        units = [u for u in client.list_units(source.mdt_id, source.guild_id) if u["id"] == "E2E-1"]
        if units:
            break
        time.sleep(0.25)
    assert units, "the unit never reached the emulator"
    assert (units[0]["officer_name"], units[0]["status"]) == ("E. Twoe", "10-8")
    assert units[0]["created_by_discord_id"] == source.actor


def test_local_stack_a_forged_webhook_gets_401(local_stack) -> None:
    status, answer = post(
        f"{local_stack['ingress']}/cad",
        b'{"units":[{"id":"X"}]}',
        {
            "content-type": "application/json",
            "webhook-id": "msg_x",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,AAAA",
        },
    )
    assert (status, answer) == (401, {"ok": False, "error": "Unauthorized"})


def relay_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    relay = shutil.which("relay", path=str(Path(sys.executable).parent)) or "relay"
    return subprocess.run([relay, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def test_local_stack_the_readme_commands_sign_send_and_list(local_stack) -> None:
    # Given the commands `make run` tells a new user to type, pointed at this stack's ports
    common = ["--config", str(local_stack["config"]), "--secrets", str(local_stack["secrets"])]
    base = local_stack["ingress"].removesuffix("/hooks")
    cwd = local_stack["config"].parent
    # When the demo webhook is sent
    sent = relay_cli(*common, "sign", "cad", "--send", "--url", base, cwd=cwd)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.startswith("202 ")
    # Then `relay units` lists the demo unit within a few seconds
    deadline = time.monotonic() + 30
    listed = ""
    while time.monotonic() < deadline and "ADAM-12" not in listed:
        units = relay_cli(*common, "units", "cad", "--northca-url", local_stack["northca"], cwd=cwd)
        assert units.returncode == 0, units.stderr
        listed = units.stdout
        time.sleep(0.25)
    assert '"officer_name": "B. Bubbleton"' in listed


def test_local_stack_a_second_stack_on_the_same_ports_says_so(local_stack) -> None:
    # Given a running stack, when another is started on its emulator's port
    port = local_stack["northca"].rsplit(":", 1)[1].split("/")[0]
    common = ["--config", str(local_stack["config"]), "--secrets", str(local_stack["secrets"])]
    result = relay_cli(
        "local",
        *common,
        "--template",
        str(ROOT / "template.yaml"),
        "--port",
        "0",
        "--emulator-port",
        port,
        cwd=local_stack["config"].parent,
    )
    # Then it stops with a sentence, not a traceback
    assert result.returncode == 1
    assert "a port is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_relay_units_without_a_stack_says_what_to_do(tmp_path: Path) -> None:
    shutil.copy(ROOT / "relay.toml", tmp_path / "relay.toml")
    (tmp_path / "relay.secrets.toml").write_text('[secrets]\n"northca/partner-key" = "k"\n')
    result = relay_cli("units", "cad", "--northca-url", "http://127.0.0.1:9/v1", cwd=tmp_path)
    assert result.returncode == 1
    assert "is `relay local` running?" in result.stderr
    assert "Traceback" not in result.stderr
