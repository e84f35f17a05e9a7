"""relay doctor against the Northca emulator (the key, the links) and a stack in moto (its parameters,
outputs, queue and DLQ), with secrets from a local file or Secrets Manager."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from relay.aws.sqs import REASON_ATTRIBUTE
from relay.config.loader import load_config
from relay.northca.client import NorthcaClient
from relay_devtools.cli import main
from relay_devtools.emulators.northca import NorthcaEmulator
from relay_devtools.operations.doctor import partner_checks
from tests.support.aws import create_plain_stack
from tests.support.constants import CAD_SECRET, GUILD, MDT, PARTNER_KEY, ROOT
from tests.support.data import SHIPPED_BUNDLE, shipped_config_text

OTHER_GUILD = "111111111111111111"


@pytest.fixture
def northca() -> Iterator[str]:
    emulator = NorthcaEmulator(partner_keys=[PARTNER_KEY], links={MDT: [GUILD]})
    url = emulator.start("127.0.0.1", 0)
    try:
        yield url
    finally:
        emulator.stop()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "relay.toml"
    config.write_text(shipped_config_text(bundle=False))
    secrets = tmp_path / "relay.secrets.toml"
    secrets.write_text(
        f'[secrets]\n"northca/partner-key" = "{PARTNER_KEY}"\n"relay/sources/cad" = "{CAD_SECRET}"\n'
    )
    return config, secrets


def test_doctor_the_partner_accepts_the_key_and_the_pair_is_linked(northca: str) -> None:
    config = load_config(ROOT / "relay.toml")
    [check] = partner_checks(config, NorthcaClient(northca, PARTNER_KEY), northca)
    assert check.ok
    assert check.detail.startswith(f"key accepted; MDT {MDT} linked to guild {GUILD}")


def test_doctor_a_refused_key_fails_once(northca: str) -> None:
    config = load_config(ROOT / "relay.toml")
    [check] = partner_checks(config, NorthcaClient(northca, "wrong"), northca)
    assert not check.ok and "refused the partner key (401" in check.detail


def test_doctor_an_unlinked_pair_names_the_source(northca: str, files: tuple[Path, Path]) -> None:
    config_path, _ = files
    config_path.write_text(
        config_path.read_text().replace(f'guild_id = "{GUILD}"', f'guild_id = "{OTHER_GUILD}"', 1)
    )
    config = load_config(config_path)
    [check] = partner_checks(config, NorthcaClient(northca, PARTNER_KEY), northca)
    assert not check.ok
    assert check.detail == (
        f"MDT {MDT} is not linked to guild {OTHER_GUILD} (MDT not linked to this guild); used by sources.cad"
    )


def test_doctor_all_green_with_a_local_secrets_file(northca: str, files: tuple[Path, Path], capsys) -> None:
    config, secrets = files
    code = main(["doctor", "--config", str(config), "--secrets", str(secrets), "--northca-url", northca])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[-1] == "relay doctor: 9 passed, 0 failed"
    assert PARTNER_KEY not in out and CAD_SECRET not in out


def test_doctor_with_a_stack_reads_secrets_manager_and_the_stacks_state(
    northca: str, files: tuple[Path, Path], capsys
) -> None:
    config, _ = files
    with mock_aws():
        # Given a stack whose partner key parameter is not the config's, one queued and one dead letter
        aws = create_plain_stack("relay-doctor", {"PartnerKeySecretName": "northca/old-key"})
        aws["secretsmanager"].create_secret(Name="northca/partner-key", SecretString=PARTNER_KEY)
        aws["secretsmanager"].create_secret(Name="relay/sources/cad", SecretString=json.dumps([CAD_SECRET]))
        urls = {
            o["OutputKey"]: o["OutputValue"]
            for o in aws["cloudformation"].describe_stacks(StackName="relay-doctor")["Stacks"][0]["Outputs"]
        }
        aws["sqs"].send_message(QueueUrl=urls["WebhookQueueUrl"], MessageBody="{}")
        aws["sqs"].send_message(
            QueueUrl=urls["WebhookDlqUrl"],
            MessageBody=json.dumps({"source": "cad", "webhook_id": "msg_1"}),
            MessageAttributes={REASON_ATTRIBUTE: {"DataType": "String", "StringValue": "status: too long"}},
        )
        # When the doctor checks the stack, without --secrets
        code = main(["doctor", "--config", str(config), "--northca-url", northca, "--stack", "relay-doctor"])
    out = capsys.readouterr().out
    # Then it fails, one line per problem, and passes the rest
    assert code == 1
    assert "FAIL  partner key name: the stack grants PartnerKeySecretName='northca/old-key'" in out
    assert "ok    secret: 'relay/sources/cad' (sources.cad (standard-webhooks)): present and usable" in out
    assert "ok    stack: relay-doctor: CREATE_COMPLETE" in out
    assert "ok    stack outputs: WebhookUrl=https://abc123.execute-api.us-east-1.amazonaws.com/hooks/" in out
    assert "ok    queue: 1 waiting, 0 in flight" in out
    assert "FAIL  dlq: 1 dead letters; first reasons: status: too long (relay redrive --list)" in out
    assert out.splitlines()[-1].endswith(" failed") and "2 failed" in out.splitlines()[-1]


def test_doctor_an_unknown_stack_is_one_failed_line(files: tuple[Path, Path], capsys) -> None:
    config, _ = files
    with mock_aws():
        code = main(["doctor", "--config", str(config), "--offline", "--stack", "nope"])
    assert code == 1
    assert "FAIL  stack: stack 'nope': " in capsys.readouterr().out


def test_doctor_offline_runs_no_secret_or_partner_check(files: tuple[Path, Path], capsys) -> None:
    config, _ = files
    assert main(["doctor", "--config", str(config), "--offline"]) == 0
    out = capsys.readouterr().out
    assert "secret:" not in out and "partner:" not in out


def test_doctor_all_green_with_the_shipped_bundle_and_a_local_secrets_file(
    northca: str, files: tuple[Path, Path], capsys
) -> None:
    config, secrets = files
    config.write_text(shipped_config_text(bundle=True))
    code = main(["doctor", "--config", str(config), "--secrets", str(secrets), "--northca-url", northca])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ok    secrets bundle: every secret is an entry of 'relay/sources/northca-relay'" in out


def test_doctor_reads_the_bundle_from_secrets_manager(northca: str, tmp_path: Path, capsys) -> None:
    config = tmp_path / "relay.toml"
    config.write_text(shipped_config_text(bundle=True))
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        bundle = {"northca/partner-key": PARTNER_KEY, "relay/sources/cad": CAD_SECRET}
        client.create_secret(Name=SHIPPED_BUNDLE, SecretString=json.dumps(bundle))
        code = main(["doctor", "--config", str(config), "--northca-url", northca, "--region", "eu-west-1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "key accepted" in out and PARTNER_KEY not in out
