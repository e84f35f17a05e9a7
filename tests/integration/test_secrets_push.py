"""`relay secrets push`: the config's secrets into Secrets Manager (moto), created or updated, asking
before an overwrite, refusing relay local's demo values, and never printing a value."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from relay.aws.secrets import PowertoolsSecrets
from relay.config.loader import load_config
from relay_devtools.cli import main
from relay_devtools.files.secrets_file import SecretsFile, load_secrets_file, write_secrets_file
from relay_devtools.operations.secrets_push import push
from tests.support.aws import create_plain_stack
from tests.support.constants import CAD_SECRET
from tests.support.data import SHIPPED_BUNDLE, shipped_config_text

PARTNER = "real-partner-key"
BUNDLE = SHIPPED_BUNDLE


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        yield create_plain_stack("relay-push")


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "relay.toml"
    config.write_text(shipped_config_text(bundle=False))
    secrets = tmp_path / "prod.secrets.toml"
    write_secrets_file(
        secrets, SecretsFile({"northca/partner-key": PARTNER, "relay/sources/cad": [CAD_SECRET]})
    )
    return config, secrets


def stored(aws: dict[str, Any], name: str) -> str:
    return str(aws["secretsmanager"].get_secret_value(SecretId=name)["SecretString"])


def test_secrets_push_creates_every_secret_the_config_names(aws, files, capsys) -> None:
    config, secrets = files
    code = main(
        ["secrets", "push", "--config", str(config), "--secrets", str(secrets), "--stack", "relay-push"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert stored(aws, "northca/partner-key") == PARTNER
    assert json.loads(stored(aws, "relay/sources/cad")) == [CAD_SECRET]
    assert "created   northca/partner-key" in out and "created   relay/sources/cad" in out
    assert PARTNER not in out and CAD_SECRET not in out


def test_secrets_push_asks_before_overwriting_and_keeps_the_value_when_told_no(aws, files) -> None:
    config_path, secrets = files
    config = load_config(config_path)
    aws["secretsmanager"].create_secret(Name="northca/partner-key", SecretString="old-key")
    content = load_secrets_file(secrets)
    asked: list[str] = []

    def no(prompt: str) -> bool:
        asked.append(prompt)
        return False

    results = {r.name: r.action for r in push(config, content, aws["secretsmanager"], no)}
    assert results == {"northca/partner-key": "kept", "relay/sources/cad": "created"}
    assert asked == ["northca/partner-key exists in Secrets Manager with another value: overwrite it? [y/N] "]
    assert stored(aws, "northca/partner-key") == "old-key"
    # When told yes, it is updated; pushed again, it is unchanged and nothing is asked
    assert {r.name: r.action for r in push(config, content, aws["secretsmanager"], lambda _: True)} == {
        "northca/partner-key": "updated",
        "relay/sources/cad": "unchanged",
    }
    assert stored(aws, "northca/partner-key") == PARTNER


def test_secrets_push_without_a_terminal_overwrites_nothing(aws, files, capsys) -> None:
    config, secrets = files
    aws["secretsmanager"].create_secret(Name="relay/sources/cad", SecretString="whsec_old")
    code = main(
        ["secrets", "push", "--config", str(config), "--secrets", str(secrets), "--stack", "relay-push"]
    )
    assert code == 0
    assert "not a terminal: pass --yes to overwrite" in capsys.readouterr().out
    assert stored(aws, "relay/sources/cad") == "whsec_old"


def test_secrets_push_refuses_relay_locals_demo_values_and_missing_ones(aws, files, capsys) -> None:
    config, secrets = files
    write_secrets_file(secrets, SecretsFile({"northca/partner-key": "demo-abc"}))
    code = main(
        ["secrets", "push", "--config", str(config), "--secrets", str(secrets), "--stack", "relay-push"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "refused   northca/partner-key  (relay local's demo value: put the real one in the file)" in out
    assert "missing   relay/sources/cad  (not in the secrets file)" in out
    assert aws["secretsmanager"].list_secrets()["SecretList"] == []


def test_secrets_push_refuses_names_the_stack_does_not_grant(files, capsys) -> None:
    config, secrets = files
    with mock_aws():
        aws = create_plain_stack("relay-push", {"SourceSecretsPrefix": "community/"})
        code = main(
            ["secrets", "push", "--config", str(config), "--secrets", str(secrets), "--stack", "relay-push"]
        )
        assert aws["secretsmanager"].list_secrets()["SecretList"] == []
    assert code == 1
    assert "is not under 'community/'" in capsys.readouterr().err


# ------------------------------------------------------------------ every secret in one bundle


@pytest.fixture
def bundled(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "relay.toml"
    config.write_text(shipped_config_text(bundle=True))
    secrets = tmp_path / "prod.secrets.toml"
    write_secrets_file(
        secrets, SecretsFile({"northca/partner-key": PARTNER, "relay/sources/cad": [CAD_SECRET]})
    )
    return config, secrets


def test_secrets_push_writes_every_secret_as_one_bundle(aws, bundled, capsys) -> None:
    # Given a stack deployed for the bundle (make deploy grants it to every function)
    config, secrets = bundled
    grants = {"PartnerKeySecretName": BUNDLE, "SourceSecretsPrefix": "relay/sources/"}
    create_plain_stack("relay-bundle", grants | {"ErlcServerKeySecretPrefix": "relay/sources/"})
    argv = ["secrets", "push", "--config", str(config), "--secrets", str(secrets), "--stack", "relay-bundle"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert json.loads(stored(aws, SHIPPED_BUNDLE)) == {
        "northca/partner-key": PARTNER,
        "relay/sources/cad": [CAD_SECRET],
    }
    assert f"created   {SHIPPED_BUNDLE}" in out and PARTNER not in out and CAD_SECRET not in out
    # And the functions read each entry as its rotation list
    reader = PowertoolsSecrets(make_client=lambda: aws["secretsmanager"], bundle=SHIPPED_BUNDLE, max_age=0)
    assert reader.get("relay/sources/cad") == [CAD_SECRET]


def test_secrets_push_refuses_a_bundle_the_stack_does_not_grant(aws, bundled, capsys) -> None:
    # A stack deployed before the bundle grants each function only its own names: the bundle would be
    # unreadable, so nothing is pushed and the operator is told to deploy again.
    config, secrets = bundled
    argv = ["secrets", "push", "--config", str(config), "--secrets", str(secrets), "--stack", "relay-push"]
    assert main(argv) == 1
    assert "deploy again with `make deploy`" in capsys.readouterr().err
    with pytest.raises(aws["secretsmanager"].exceptions.ResourceNotFoundException):
        stored(aws, BUNDLE)


def test_secrets_push_writes_no_bundle_while_a_value_is_missing_or_a_demo(aws, bundled) -> None:
    config_path, secrets = bundled
    config = load_config(config_path)
    content = load_secrets_file(secrets)
    content.secrets["relay/sources/cad"] = "demo-not-for-a-stack"
    results = push(config, content, aws["secretsmanager"], lambda _: True)
    assert [(r.name, r.action) for r in results] == [
        ("relay/sources/cad", "refused"),
        (SHIPPED_BUNDLE, "kept"),
    ]
    del content.secrets["relay/sources/cad"]
    results = push(config, content, aws["secretsmanager"], lambda _: True)
    assert [(r.name, r.action) for r in results] == [
        ("relay/sources/cad", "missing"),
        (SHIPPED_BUNDLE, "kept"),
    ]
    with pytest.raises(aws["secretsmanager"].exceptions.ResourceNotFoundException):
        stored(aws, SHIPPED_BUNDLE)


def test_secrets_push_updates_a_bundle_keeping_what_the_config_does_not_name(aws, bundled) -> None:
    config_path, secrets = bundled
    config, content = load_config(config_path), load_secrets_file(secrets)
    other = {"relay/sources/retired": "kept-value", "relay/sources/cad": "older"}
    aws["secretsmanager"].create_secret(Name=SHIPPED_BUNDLE, SecretString=json.dumps(other))
    # Told no: nothing changes
    results = push(config, content, aws["secretsmanager"], lambda _: False)
    assert [(r.name, r.action) for r in results] == [(SHIPPED_BUNDLE, "kept")]
    assert json.loads(stored(aws, SHIPPED_BUNDLE)) == other
    # Told yes: the config's entries are written, the others kept
    results = push(config, content, aws["secretsmanager"], lambda _: True)
    assert [(r.name, r.action) for r in results] == [(SHIPPED_BUNDLE, "updated")]
    assert json.loads(stored(aws, SHIPPED_BUNDLE)) == {
        "relay/sources/retired": "kept-value",
        "relay/sources/cad": [CAD_SECRET],
        "northca/partner-key": PARTNER,
    }
    assert [(r.name, r.action) for r in push(config, content, aws["secretsmanager"], lambda _: False)] == [
        (SHIPPED_BUNDLE, "unchanged")
    ]


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("", "no usable secret"),
        ("   ", "no usable secret"),
        ("whsec_c2hvcnQ=", "shorter than 24 bytes"),
        (["", " "], "no usable secret"),
    ],
    ids=["empty", "blank", "too-short-for-its-scheme", "rotation-list-of-blanks"],
)
def test_secrets_push_checks_every_value_before_writing_any(
    aws, files, capsys, value: str | list[str], said: str
) -> None:
    # Given a good partner key (sorted first) and a source secret its scheme cannot use
    config, secrets = files
    write_secrets_file(secrets, SecretsFile({"northca/partner-key": PARTNER, "relay/sources/cad": value}))
    # When it is pushed
    code = main(
        ["secrets", "push", "--config", str(config), "--secrets", str(secrets), "--stack", "relay-push"]
    )
    out = capsys.readouterr().out
    # Then nothing at all is written, and the line names the secret and why (never a value)
    assert code == 1
    assert aws["secretsmanager"].list_secrets()["SecretList"] == []
    assert "refused   relay/sources/cad" in out and said in out
    assert "nothing written" in out
    assert PARTNER not in out
