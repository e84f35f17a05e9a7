"""`relay local` as a user runs it: a subprocess on free ports, signed webhooks, the units read back,
the deliveries feed, and the commands its hint tells a new user to type."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from relay.config.loader import load_config
from relay.northca.client import NorthcaClient
from relay_devtools.files.secrets_file import load_secrets_file
from relay_devtools.webhooks.signing import sign
from tests.support.constants import ROOT
from tests.support.local import LocalProcess, get, post, relay_cli, wait_for_delivery


def signed_units(
    local: LocalProcess, units: list[dict[str, Any]], delivery_id: str
) -> tuple[bytes, dict[str, str]]:
    config = load_config(local.config)
    source = config.sources["cad"]
    secret = load_secrets_file(local.secrets).newest(source.signature.secret)
    delivery = sign(source.signature, json.dumps({"units": units}).encode(), secret, delivery_id=delivery_id)
    return delivery.body, delivery.headers


def test_local_stack_prints_the_ready_line_and_creates_demo_secrets(local_stack: LocalProcess) -> None:
    assert local_stack.secrets.exists()
    assert local_stack.ingress.startswith("http://127.0.0.1:")
    assert local_stack.northca.endswith("/v1")
    # The secrets file is named honestly: a temporary folder is no git work tree, so nothing is claimed
    [created] = [line for line in local_stack.output if line.startswith("created ")]
    assert "(git-ignored)" not in created


def test_local_stack_says_where_moto_the_queue_the_dlq_and_the_feed_are(local_stack: LocalProcess) -> None:
    printed = "".join(local_stack.output)
    assert "aws (moto)  http://127.0.0.1:" in printed
    assert "/northca-relay-dlq" in printed
    assert f"deliveries  {local_stack.base}/_relay" in printed
    # And the other commands find them in the state file
    state = json.loads((local_stack.workdir / ".local" / "relay-local.json").read_text())
    assert state["dlq_url"].endswith("/northca-relay-dlq")
    assert state["ingress"] == local_stack.ingress


def test_local_stack_the_hint_names_the_files_and_ports_it_was_started_with(
    local_stack: LocalProcess,
) -> None:
    printed = "".join(local_stack.output)
    assert f"--config {local_stack.config} --secrets {local_stack.secrets} sign cad --send --wait" in printed
    assert f"--url {local_stack.base}" in printed
    assert f"units cad --northca-url {local_stack.northca}" in printed


def test_local_stack_a_signed_webhook_becomes_a_unit_in_the_emulated_mdt(local_stack: LocalProcess) -> None:
    # Given the demo source and its secret from the generated secrets file
    body, headers = signed_units(
        local_stack, [{"id": "E2E-1", "officer_name": "E. Twoe", "status": "10-8"}], "msg_e2e_1"
    )
    # When it is POSTed over HTTP
    status, answer = post(f"{local_stack.ingress}/cad", body, headers)
    assert (status, answer["ok"]) == (202, True)
    # Then within a few seconds the emulated MDT lists the unit, with no field blanked
    config = load_config(local_stack.config)
    source = config.sources["cad"]
    key = load_secrets_file(local_stack.secrets).newest(config.northca.partner_key_secret)
    client = NorthcaClient(local_stack.northca, key)
    deadline = time.monotonic() + 30
    units: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        units = [u for u in client.list_records(source.mdt_id, source.guild_id) if u["id"] == "E2E-1"]
        if units:
            break
        time.sleep(0.25)
    assert units, "the unit never reached the emulator"
    assert (units[0]["officer_name"], units[0]["status"]) == ("E. Twoe", "10-8")
    assert units[0]["created_by_discord_id"] == source.actor


def test_local_stack_the_feed_shows_the_delivery_written_with_its_put(local_stack: LocalProcess) -> None:
    body, headers = signed_units(local_stack, [{"id": "FEED-1", "status": "10-8"}], "msg_feed_1")
    assert post(f"{local_stack.ingress}/cad", body, headers)[0] == 202
    delivery = wait_for_delivery(local_stack.base, "msg_feed_1")
    assert (delivery["source"], delivery["status"], delivery["outcome"]) == ("cad", 202, "written")
    assert delivery["fates"][0]["written"] == {"status": "10-8"}


def test_local_stack_an_older_change_sent_after_a_newer_one_is_skipped_visibly(
    local_stack: LocalProcess,
) -> None:
    # Given a unit written at its current time
    body, headers = signed_units(local_stack, [{"id": "OLD-1", "status": "10-8"}], "msg_old_new")
    assert post(f"{local_stack.ingress}/cad", body, headers)[0] == 202
    assert wait_for_delivery(local_stack.base, "msg_old_new")["outcome"] == "written"
    # When a change with a fixed past event time (like the samples') arrives after it
    stale = [{"id": "OLD-1", "status": "10-6", "at": "2020-01-01T00:00:00Z"}]
    body, headers = signed_units(local_stack, stale, "msg_old_stale")
    assert post(f"{local_stack.ingress}/cad", body, headers)[0] == 202
    # Then the feed says it was skipped, and why
    delivery = wait_for_delivery(local_stack.base, "msg_old_stale")
    assert delivery["outcome"] == "skipped"
    assert (
        delivery["fates"][0]["why"]
        == "not newer than what the unit holds (an older event time, or the same change again)"
    )


def test_local_stack_a_forged_webhook_gets_401_and_the_feed_says_why(local_stack: LocalProcess) -> None:
    status, answer = post(
        f"{local_stack.ingress}/cad",
        b'{"units":[{"id":"X"}]}',
        {
            "content-type": "application/json",
            "webhook-id": "msg_forged_e2e",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,AAAA",
        },
    )
    assert (status, answer) == (401, {"ok": False, "error": "Unauthorized"})
    # The operator's own feed carries the log-only reason the sender never sees (no id: it is unverified)
    feed = json.loads(get(f"{local_stack.base}/_relay/deliveries?source=cad")[2])["deliveries"]
    rejected = [d for d in feed if d["status"] == 401]
    assert rejected and rejected[0]["outcome"] == "rejected"
    assert rejected[0]["reason"].startswith("malformed: ")


def test_local_stack_the_page_is_html_and_other_gets_are_405(local_stack: LocalProcess) -> None:
    status, content_type, page = get(f"{local_stack.base}/_relay")
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert b"/_relay/deliveries" in page
    assert get(f"{local_stack.base}/hooks/cad")[0] == 405


def test_local_stack_the_readme_commands_sign_send_wait_and_list(local_stack: LocalProcess) -> None:
    # Given the commands the hint tells a new user to type, pointed at this stack's ports
    common = ["--config", str(local_stack.config), "--secrets", str(local_stack.secrets)]
    # When the demo webhook is sent and waited for
    sent = relay_cli(
        *common, "sign", "cad", "--send", "--wait", "--url", local_stack.base, cwd=local_stack.workdir
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.startswith("202 ")
    # Then it says what became of it, and `relay units` lists the unit at once
    assert "\nwritten\n  ADAM-12: written " in sent.stdout
    units = relay_cli(*common, "units", "cad", "--northca-url", local_stack.northca, cwd=local_stack.workdir)
    assert units.returncode == 0, units.stderr
    assert '"officer_name": "B. Bubbleton"' in units.stdout


def test_local_stack_redrive_finds_relay_local_without_aws_variables(local_stack: LocalProcess) -> None:
    result = relay_cli("redrive", "--list", cwd=local_stack.workdir)
    assert result.returncode == 0, result.stderr
    assert "messages in the DLQ; nothing moved" in result.stdout


def test_local_stack_a_second_stack_on_the_same_port_names_it_and_writes_nothing(
    local_stack: LocalProcess, tmp_path: Path
) -> None:
    # Given a running stack, when another is started on its emulator's port with a new secrets file
    port = local_stack.northca.rsplit(":", 1)[1].split("/")[0]
    secrets = tmp_path / "new.secrets.toml"
    result = relay_cli(
        "local",
        "--config",
        str(local_stack.config),
        "--secrets",
        str(secrets),
        "--template",
        str(ROOT / "template.yaml"),
        "--port",
        "0",
        "--emulator-port",
        port,
        cwd=tmp_path,
    )
    # Then it stops with a sentence naming the port and the flag, not a traceback
    assert result.returncode == 1
    assert f"port {port} is already in use (choose another with --emulator-port)" in result.stderr
    assert "Traceback" not in result.stderr
    # And it created no secrets file and no state file
    assert not secrets.exists()
    assert not (tmp_path / ".local").exists()


def test_relay_units_without_a_stack_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "relay.toml").write_text((ROOT / "relay.toml").read_text())
    (tmp_path / "relay.secrets.toml").write_text('[secrets]\n"northca/partner-key" = "k"\n')
    result = relay_cli("units", "cad", "--northca-url", "http://127.0.0.1:9/v1", cwd=tmp_path)
    assert result.returncode == 1
    assert "is `relay local` running?" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["redrive", "--list"]])
def test_relay_redrive_without_a_stack_or_aws_says_what_to_do(tmp_path: Path, command: list[str]) -> None:
    result = relay_cli(*command, cwd=tmp_path)
    assert result.returncode == 2
    assert "relay redrive: give --dlq-url" in result.stderr
    assert "Traceback" not in result.stderr
