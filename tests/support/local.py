"""`relay local` as a user runs it (a subprocess on free ports), and the commands typed beside it."""

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.constants import ROOT

READY = re.compile(r"relay local ready: ingress (?P<ingress>\S+)/\{source\} northca (?P<northca>\S+)")
# The last line relay local prints once it is ready (the hint's end).
HINT_END = "Every delivery, its outcome and why:"


def relay_executable() -> str:
    return shutil.which("relay", path=str(Path(sys.executable).parent)) or "relay"


def environment() -> dict[str, str]:
    """This environment without AWS variables: relay local and the commands beside it need none."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


@dataclass
class LocalProcess:
    process: subprocess.Popen[str]
    workdir: Path
    config: Path
    secrets: Path
    ingress: str = ""
    northca: str = ""
    output: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.ingress.removesuffix("/hooks")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_relay_local(workdir: Path, *extra: str, timeout: float = 60, config_text: str = "") -> LocalProcess:
    """relay local in `workdir` (its state file lands there) with the repository's relay.toml (and
    `config_text` after it), on free ports, read until it has printed what to do next."""
    config = workdir / "relay.toml"
    shutil.copy(ROOT / "relay.toml", config)
    if config_text:
        config.write_text(config.read_text(encoding="utf-8") + config_text, encoding="utf-8")
    secrets = workdir / "relay.secrets.toml"
    command = [
        relay_executable(),
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
        *extra,
    ]
    process = subprocess.Popen(
        command,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment(),
    )
    assert process.stdout is not None
    local = LocalProcess(process, workdir, config, secrets)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        local.output.append(line)
        if match := READY.search(line):
            local.ingress, local.northca = match["ingress"], match["northca"]
        if line.startswith(HINT_END):
            return local
    local.stop()
    raise AssertionError("relay local never became ready:\n" + "".join(local.output))


def relay_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [relay_executable(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env=environment(),
    )


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def get(url: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def wait_for_delivery(
    base: str, webhook_id: str, settled: bool = True, seconds: float = 30
) -> dict[str, Any]:
    """The feed's entry for `webhook_id`, once the consumer has settled it (or at the deadline)."""
    deadline = time.monotonic() + seconds
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        feed = json.loads(get(f"{base}/_relay/deliveries")[2])["deliveries"]
        found = next((d for d in feed if d["webhook_id"] == webhook_id), {})
        if found and (not settled or found["outcome"] not in ("queued", "retrying")):
            return found
        time.sleep(0.25)
    return found
