"""The operator's typos and missing pieces end in one line saying what and where, never a traceback."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from relay_devtools.cli import main
from relay_devtools.commands.redrive import Target, redrive_or_list
from relay_devtools.files.secrets_file import SecretsFileError, load_secrets_file
from relay_devtools.operations.redrive import MAX_PANIC_AGE
from tests.support.constants import ROOT


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "relay.toml"
    path.write_text((ROOT / "relay.toml").read_text())
    return path


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such secrets file"),
        (b"\xff\xfe[secrets]", "not UTF-8 text"),
        (b"garbage = [", "not valid TOML"),
        (b'[secrets]\n"northca/partner-key" = 5\n', "must be text, or a list of text"),
        (b'[secrets]\n"northca/partner-key" = { a = "b" }\n', "must be text, or a list of text"),
        (b'[secrets]\n"northca/partner-key" = []\n', "must be text, or a list of text"),
        (b'"northca/partner-key" = "k"\n', "under a [secrets] header"),
        (b"secrets = 5\n", "[secrets] must be a table"),
    ],
    ids=["missing", "not-utf8", "not-toml", "int", "table", "empty-list", "no-header", "not-a-table"],
)
def test_a_secrets_file_that_cannot_be_used_says_so_with_its_path(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    path = tmp_path / "s.toml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SecretsFileError) as raised:
        load_secrets_file(path)
    assert expected in str(raised.value)
    assert str(path) in str(raised.value)


def test_a_folder_given_as_the_secrets_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SecretsFileError, match="a folder"):
        load_secrets_file(tmp_path)


@pytest.mark.parametrize(
    "command",
    [
        ["units", "cad"],
        ["sign", "cad"],
    ],
    ids=["units", "sign"],
)
def test_cli_a_missing_secrets_file_is_one_line_not_a_traceback(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    missing = tmp_path / "nosuch.toml"
    code = main(["--config", str(config_file), "--secrets", str(missing), *command])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "no such secrets file" in err and str(missing) in err
    assert "Traceback" not in err


def test_cli_a_secrets_file_without_the_partner_key_names_it(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = tmp_path / "s.toml"
    secrets.write_text('[secrets]\n"relay/sources/cad" = "x"\n')
    assert main(["--config", str(config_file), "--secrets", str(secrets), "units", "cad"]) == 2
    assert "no secret 'northca/partner-key'" in capsys.readouterr().err


def test_cli_a_file_that_is_a_folder_is_one_line(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    code = main(["--config", str(config_file), "--secrets", str(tmp_path), "units", "cad"])
    assert code == 2
    assert "a folder" in capsys.readouterr().err


def test_cli_no_aws_region_is_a_hint_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    code = main(
        [
            "redrive",
            "--list",
            "--dlq-url",
            "http://127.0.0.1:9/123456789012/dlq",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "no AWS region" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_cli_redrive_max_must_be_a_count(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["redrive", "--list", "--max", value, "--dlq-url", "x"])
    assert raised.value.code == 2
    assert "--max" in capsys.readouterr().err


class NoMoveTasks:
    """moto's server, which lacks the message move task API (relay local's): it answers 500."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs

    def __getattr__(self, name: str) -> Any:
        if name in ("list_message_move_tasks", "start_message_move_task"):
            raise AssertionError("relay local has no move tasks: they must not be tried")
        return getattr(self.sqs, name)


def test_redrive_against_relay_local_moves_the_messages_itself(capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="q")["QueueUrl"]
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        sqs.send_message(QueueUrl=dlq, MessageBody='{"webhook_id": "w"}')
        args = argparse.Namespace(
            list=False, max=None, fallback=False, old_panics=False, panic_max_age=MAX_PANIC_AGE
        )
        found = Target(dlq, queue, {}, local=True)
        assert redrive_or_list(args, NoMoveTasks(sqs), found) == 0
        assert "1 messages moved to" in capsys.readouterr().out
        assert sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"] == '{"webhook_id": "w"}'


def test_text_from_a_partner_is_printed_with_its_control_characters_written_out() -> None:
    from relay_devtools.options import printable

    assert printable("refused \x1b[31mred\x1b[0m\r\n") == "refused \\x1b[31mred\\x1b[0m\\r\\n"
    assert printable("ünïcode — fine") == "ünïcode — fine"
