"""The recovery commands beside a running `relay local`, as an operator types them (no flags but the
command's own: the state file says where the relay is): the MDT wiped and put back by `relay resync`,
a source's key wrong then fixed and its refused pushes taken by `relay replay`, `relay inspect` of one."""

from __future__ import annotations

import json
import threading
import time
import tomllib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from relay.config.loader import load_config
from relay_devtools.webhooks.signing import sign
from tests.support.constants import GUILD, MDT
from tests.support.local import LocalProcess, post, relay_cli, start_relay_local, wait_for_delivery

SONORAN = f"""
[sources.sonoran]
adapter = "units"
mdt_id = "{MDT}"
guild_id = "{GUILD}"
signature = {{ scheme = "body-key", secret = "relay/sources/sonoran" }}
archive_body = true
"""
ROTATED = "sonoran-key-after-the-rotation-0c1d"
FIELDS = ("officer_name", "officer_badge", "department", "rank", "status")


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProcess]:
    stack = start_relay_local(tmp_path_factory.mktemp("recovery"), config_text=SONORAN)
    assert stack.process.stdout is not None
    # Its log lines keep coming: read them, so a full pipe never stops it.
    threading.Thread(target=lambda: stack.output.extend(stack.process.stdout or []), daemon=True).start()
    try:
        yield stack
    finally:
        stack.stop()


def state(local: LocalProcess) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((local.workdir / ".local/relay-local.json").read_text())
    return data


def secret(local: LocalProcess, name: str) -> str:
    value = tomllib.loads(local.secrets.read_text())["secrets"][name]
    return str(value[-1] if isinstance(value, list) else value)


def control(local: LocalProcess, method: str, route: str) -> Any:
    import urllib.request

    root = local.northca.rsplit("/v1", 1)[0]
    request = urllib.request.Request(f"{root}/_emulator/{route}", method=method)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def units(local: LocalProcess) -> dict[str, dict[str, str]]:
    import urllib.request

    request = urllib.request.Request(
        f"{local.northca}/mdts/{MDT}/units/active",
        headers={"x-partner-key": secret(local, "northca/partner-key"), "x-discord-guild": GUILD},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return {u["id"]: {f: u[f] for f in FIELDS} for u in json.loads(answer.read())["data"]}


def wait_units(local: LocalProcess, count: int, seconds: float = 60) -> dict[str, dict[str, str]]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = units(local)
        if len(found) >= count:
            return found
        time.sleep(0.25)
    return units(local)


def send_cad(local: LocalProcess, delivery: str, *unit: dict[str, str]) -> None:
    config = load_config(local.config)
    body = json.dumps({"units": list(unit)}).encode()
    signed = sign(
        config.sources["cad"].signature, body, secret(local, "relay/sources/cad"), delivery_id=delivery
    )
    assert post(f"{local.ingress}/cad", signed.body, signed.headers)[0] == 202
    assert wait_for_delivery(local.base, delivery)["outcome"] == "written"


def test_recovery_local_resync_puts_a_wiped_mdt_back(local: LocalProcess) -> None:
    # Given units the relay wrote
    send_cad(
        local,
        "msg_wipe_1",
        {"id": "R-1", "officer_name": "R. One", "rank": "PO", "status": "10-8"},
        {"id": "R-2", "officer_name": "R. Two", "department": "Patrol", "status": "10-6"},
    )
    before = {u: f for u, f in units(local).items() if u.startswith("R-")}
    # When the MDT is wiped and the operator runs resync beside relay local
    control(local, "DELETE", f"units/{MDT}")
    dry = relay_cli("resync", "--mdt", MDT, "--dry-run", cwd=local.workdir)
    assert dry.returncode == 0, dry.stderr
    assert "  R-1  create" in dry.stdout and "nothing queued" in dry.stdout
    done = relay_cli("resync", "--mdt", MDT, cwd=local.workdir)
    assert done.returncode == 0, done.stderr
    # Then the units come back as they were
    after = wait_units(local, len(before))
    assert {u: after.get(u) for u in before} == before


def test_recovery_local_refused_pushes_replayed_once_the_key_is_fixed(local: LocalProcess) -> None:
    # Given a source that rotated its key while the relay kept the old one: its pushes are refused
    for status in ("10-8", "10-97"):
        body = json.dumps({"key": ROTATED, "units": [{"id": "S-1", "status": status}]}).encode()
        assert post(f"{local.ingress}/sonoran", body, {"content-type": "application/json"})[0] == 401
        time.sleep(0.01)
    # When the operator fixes the relay's secret (relay local: its moto Secrets Manager)
    where = state(local)
    manager = boto3.client(
        "secretsmanager",
        endpoint_url=where["aws_endpoint"],
        region_name=where["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    bundle_name = load_config(local.config).secrets.bundle
    bundle = json.loads(manager.get_secret_value(SecretId=bundle_name)["SecretString"])
    manager.put_secret_value(
        SecretId=bundle_name, SecretString=json.dumps(bundle | {"relay/sources/sonoran": ROTATED})
    )
    dry = relay_cli("replay", "--source", "sonoran", "--since", "1h", "--dry-run", cwd=local.workdir)
    assert (
        "2 refused then that verify now" in dry.stdout and "S-1  create  status: '' -> '10-97'" in dry.stdout
    )
    done = relay_cli("replay", "--source", "sonoran", "--since", "1h", cwd=local.workdir)
    assert done.returncode == 0 and "2 messages queued" in done.stdout, done.stderr
    # Then the unit holds the newest of what the refused pushes said
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and units(local).get("S-1", {}).get("status") != "10-97":
        time.sleep(0.25)
    assert units(local)["S-1"]["status"] == "10-97"


def test_recovery_local_inspect_shows_what_a_webhook_became_and_wrote(local: LocalProcess) -> None:
    send_cad(local, "msg_inspected", {"id": "I-1", "status": "10-8"})
    shown = relay_cli("inspect", "msg_inspected", cwd=local.workdir)
    assert shown.returncode == 0, shown.stderr
    assert "cad  accepted  msg_inspected" in shown.stdout
    assert "I-1  at " in shown.stdout and "answered 202 accepted: written" in shown.stdout
    assert "I-1: written status='10-8'" in shown.stdout
