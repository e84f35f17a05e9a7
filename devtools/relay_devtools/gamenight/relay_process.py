"""The relay under test: `relay local` of a checkout (this one or another), started as a subprocess on
free ports with the evening's relay.toml, secrets and roster poll period.

The poll period is set the way any version reads it: relay local takes the period of the template's
`RosterPollSchedule` default, so the evening runs a copy of that checkout's own template.yaml with
that one default changed (and, when asked, the consumer's batching window). Nothing else differs from
`make run`."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from relay_devtools.gamenight import rules
from relay_devtools.gamenight.client import Endpoints, Secrets
from relay_devtools.webhooks.signing import new_secret

READY = re.compile(
    r"relay local ready: ingress (?P<ingress>\S+)/\{source\} northca (?P<northca>\S+)(?: erlc (?P<erlc>\S+))?"
)
AWS_LINE = re.compile(r"^\s+aws \(moto\)\s+(?P<endpoint>\S+) region (?P<region>\S+)")
DLQ_LINE = re.compile(r"^\s+dlq\s+(?P<url>\S+)")
READY_SECONDS = 120.0


class RelayStartError(RuntimeError):
    """relay local did not start; the message holds the end of its output."""


def new_secrets() -> Secrets:
    public, private = new_secret("ed25519")
    return Secrets(
        partner_key=new_secret("url-token")[0],
        server_key=new_secret("url-token")[0],
        erlc_public=public,
        erlc_private=private or "",
        sonoran_key=new_secret("body-key")[0],
    )


def set_parameter_default(template: str, name: str, value: str) -> str:
    """`name`'s `Default:` in a template's Parameters, replaced (the first Default under `  name:`)."""
    pattern = re.compile(rf"(^  {re.escape(name)}:\n(?:    .*\n)*?    Default: ).*$", re.MULTILINE)
    changed, count = pattern.subn(lambda m: m[1] + value, template, count=1)
    if count != 1:
        raise RelayStartError(f"template.yaml has no parameter {name} with a Default")
    return changed


@dataclass
class RelayLocal:
    tree: Path
    workdir: Path
    process: subprocess.Popen[str]
    endpoints: Endpoints
    secrets: Secrets
    aws_endpoint: str = ""
    region: str = ""
    dlq_url: str = ""
    lines: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _executable(tree: Path) -> Path:
    relay = tree / ".venv" / "bin" / "relay"
    if not relay.exists():
        raise RelayStartError(f"{relay} does not exist: run `make dev` in {tree}")
    return relay


def start_relay(
    tree: Path,
    workdir: Path,
    poll_seconds: int,
    *,
    window_seconds: int | None = None,
    read_timeout: float = 10.0,
) -> RelayLocal:
    """relay local of `tree`, ready; its output goes to `workdir`/relay-local.log."""
    relay = _executable(tree)
    workdir.mkdir(parents=True, exist_ok=True)
    template = set_parameter_default(
        (tree / "template.yaml").read_text(encoding="utf-8"),
        "RosterPollSchedule",
        f"rate({poll_seconds} seconds)",
    )
    if window_seconds is not None:
        template = set_parameter_default(template, "ConsumerBatchingWindowSeconds", str(window_seconds))
    (workdir / "template.yaml").write_text(template, encoding="utf-8")
    (workdir / "relay.toml").write_text(rules.relay_toml(read_timeout=read_timeout), encoding="utf-8")
    secrets = new_secrets()
    secrets_path = workdir / "relay.secrets.toml"
    secrets_path.write_text(secrets.toml(), encoding="utf-8")
    secrets_path.chmod(0o600)
    command = [
        str(relay), "local", "--config", str(workdir / "relay.toml"), "--secrets", str(secrets_path),
        "--template", str(workdir / "template.yaml"), "--port", "0", "--emulator-port", "0",
        "--erlc-emulator-port", "0", "--state-file", "",
    ]  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
    )
    return _wait_ready(tree, workdir, process, secrets)


def _wait_ready(tree: Path, workdir: Path, process: subprocess.Popen[str], secrets: Secrets) -> RelayLocal:
    ready = threading.Event()
    found: dict[str, str] = {}
    lines: list[str] = []
    log = (workdir / "relay-local.log").open("w", encoding="utf-8")

    def pump() -> None:
        assert process.stdout is not None
        with log:
            for line in process.stdout:
                log.write(line)
                if ready.is_set():
                    continue
                lines.append(line)
                for pattern in (READY, AWS_LINE, DLQ_LINE):
                    if match := pattern.search(line):
                        found.update({k: v for k, v in match.groupdict().items() if v})
                if line.startswith("  dlq"):
                    ready.set()
            ready.set()

    threading.Thread(target=pump, name="gamenight-relay-output", daemon=True).start()
    ready.wait(READY_SECONDS)
    if not {"ingress", "northca", "erlc", "url"} <= set(found) or process.poll() is not None:
        if process.poll() is None:
            process.terminate()
        raise RelayStartError("relay local did not become ready:\n" + "".join(lines[-40:]))
    endpoints = Endpoints(found["ingress"], found["northca"], found["erlc"])
    return RelayLocal(
        tree,
        workdir,
        process,
        endpoints,
        secrets,
        found.get("endpoint", ""),
        found.get("region", ""),
        found["url"],
        lines,
    )
