"""`relay`: every option works before or after its subcommand."""

from __future__ import annotations

import pytest

from relay_devtools.cli import build_parser

SUBCOMMANDS = [
    ["local"],
    ["sign", "cad"],
    ["units", "cad"],
    ["calls", "cad"],
    ["map", "cad", "payload.json"],
    ["redrive", "--list"],
    ["deliveries", "--stack", "s"],
    ["doctor"],
    ["secrets", "push", "--stack", "s"],
]


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=lambda c: c[0])
def test_cli_config_and_secrets_before_the_subcommand_are_kept(command: list[str]) -> None:
    args = build_parser().parse_args(["--config", "community.toml", "--secrets", "s.toml", *command])
    assert (args.config, args.secrets) == ("community.toml", "s.toml")


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=lambda c: c[0])
def test_cli_config_and_secrets_after_the_subcommand_are_kept(command: list[str]) -> None:
    args = build_parser().parse_args([*command, "--config", "community.toml", "--secrets", "s.toml"])
    assert (args.config, args.secrets) == ("community.toml", "s.toml")


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=lambda c: c[0])
def test_cli_defaults_are_the_repository_files(command: list[str]) -> None:
    args = build_parser().parse_args(command)
    assert (args.config, args.secrets) == ("relay.toml", "relay.secrets.toml")


def test_cli_the_option_after_the_subcommand_wins() -> None:
    args = build_parser().parse_args(["--config", "a.toml", "local", "--config", "b.toml"])
    assert args.config == "b.toml"
