"""The CLI's sentences: a sample body that fits each adapter, unknown sources listed, the missing-secret
hint that names the right fix, config errors with their hints, and the ready hint with the options used."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from relay_devtools.cli import build_parser, main
from relay_devtools.commands.local import ready_hint
from relay_devtools.commands.redrive import target
from relay_devtools.webhooks.samples import default_body
from tests.support.constants import ROOT


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "community.toml"
    config.write_text((ROOT / "relay.toml").read_text())
    secrets = tmp_path / "community.secrets.toml"
    secrets.write_text('[secrets]\n"northca/partner-key" = "k"\n')
    return config, secrets


@pytest.mark.parametrize(
    ("adapter", "origin"),
    [
        ("units", "the demo unit"),
        ("sonoran", "events/sonoran_unit_login.json"),
        ("tally", "events/tally_response.json"),
    ],
)
def test_cli_sign_sends_a_body_the_sources_adapter_reads(adapter: str, origin: str) -> None:
    body, where = default_body(adapter)
    assert where == origin
    assert isinstance(json.loads(body), dict)


def test_cli_sign_asks_for_a_body_when_no_sample_fits() -> None:
    with pytest.raises(
        SystemExit, match="no sample body for the 'no-such-kind' adapter: give one with --file or --body"
    ):
        default_body("no-such-kind")


def test_cli_sign_takes_each_kinds_first_sample_from_the_registry() -> None:
    # `relay sign board` (a mapping source) sends the documented board sample (it had none)
    body, origin = default_body("mapping")
    assert origin == "events/mapping_board.json"
    assert body == (ROOT / "events" / "mapping_board.json").read_bytes()


def test_cli_sign_an_unknown_source_lists_the_sources(files: tuple[Path, Path]) -> None:
    config, secrets = files
    with pytest.raises(SystemExit, match=r"relay sign: no source 'cda' in the config \(sources: cad\)"):
        main(["--config", str(config), "--secrets", str(secrets), "sign", "cda"])


def test_cli_sign_a_missing_secret_names_the_file_given(files: tuple[Path, Path]) -> None:
    config, secrets = files
    with pytest.raises(SystemExit) as raised:
        main(["--config", str(config), "--secrets", str(secrets), "sign", "cad"])
    message = str(raised.value.code)
    assert f"{secrets} has no secret 'relay/sources/cad'" in message
    assert f"relay local --secrets {secrets}" in message
    assert "make run" not in message


def test_cli_a_config_error_says_which_keys_are_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given `[source.cad]` for `[sources.cad]`
    config = tmp_path / "relay.toml"
    config.write_text((ROOT / "relay.toml").read_text().replace("[sources.cad]", "[source.cad]"))
    # When any command loads it
    assert main(["--config", str(config), "map", "cad", "payload.json"]) == 2
    # Then the error names the allowed keys and the nearest one
    err = capsys.readouterr().err
    assert f"{config}: source: Extra inputs are not permitted" in err
    assert "did you mean 'sources'?" in err


def namespace(**options: str) -> argparse.Namespace:
    return build_parser().parse_args(["local", *[f"--{k}={v}" for k, v in options.items()]])


def test_cli_the_ready_hint_for_the_defaults_is_the_short_form() -> None:
    hint = ready_hint(
        namespace(),
        "http://127.0.0.1:3000/hooks",
        "http://127.0.0.1:4010/v1",
        "http://127.0.0.1:3000/_relay",
        ["cad"],
    )
    assert "  .venv/bin/relay sign cad --send --wait\n" in hint
    assert "  .venv/bin/relay units cad\n" in hint
    assert hint.rstrip().endswith("Every delivery, its outcome and why: http://127.0.0.1:3000/_relay")


def test_cli_the_ready_hint_carries_the_files_and_ports_given() -> None:
    args = namespace(config="community.toml", secrets="community.secrets.toml")
    hint = ready_hint(
        args,
        "http://127.0.0.1:3100/hooks",
        "http://127.0.0.1:4110/v1",
        "http://127.0.0.1:3100/_relay",
        ["cad"],
    )
    common = "--config community.toml --secrets community.secrets.toml"
    assert f"relay {common} sign cad --send --wait --url http://127.0.0.1:3100\n" in hint
    assert f"relay {common} units cad --northca-url http://127.0.0.1:4110/v1\n" in hint


def test_cli_redrive_finds_relay_locals_queues_in_its_state_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("DLQ_URL", raising=False)
    monkeypatch.delenv("QUEUE_URL", raising=False)
    state = tmp_path / "relay-local.json"
    args = build_parser().parse_args(["redrive", "--list", "--local-state", str(state)])
    assert target(args) is None
    state.write_text(
        json.dumps(
            {
                "aws_endpoint": "http://127.0.0.1:5000",
                "region": "us-east-1",
                "queue_url": "http://127.0.0.1:5000/1/q",
                "dlq_url": "http://127.0.0.1:5000/1/dlq",
            }
        )
    )
    found = target(args)
    assert found is not None and found.local
    assert (found.dlq_url, found.queue_url) == ("http://127.0.0.1:5000/1/dlq", "http://127.0.0.1:5000/1/q")
    assert found.client_options["endpoint_url"] == "http://127.0.0.1:5000"
    assert found.client_options["region_name"] == "us-east-1"


def test_cli_redrive_flags_win_over_relay_local(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("QUEUE_URL", raising=False)
    args = build_parser().parse_args(
        ["redrive", "--dlq-url", "https://sqs/dlq", "--local-state", str(tmp_path / "x")]
    )
    found = target(args)
    assert found is not None and not found.local
    assert (found.dlq_url, found.client_options) == ("https://sqs/dlq", {})
