"""The options every `relay` subcommand shares, and the handling of arguments more than one reads."""

from __future__ import annotations

import argparse

from relay.config.schema import RelayConfig, SourceConfig
from relay_devtools.webhooks.dry_run import MapError, source_config

# --config and --secrets when not given: the repository's files.
DEFAULTS = {"config": "relay.toml", "secrets": "relay.secrets.toml"}

# What a command module's `register` adds its subcommand to (argparse names the type privately).
type Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


class Default(str):
    """A default value, told apart from the same text typed by the user (`relay doctor` reads the
    secrets from Secrets Manager unless --secrets names a file)."""

    __slots__ = ()


def given(value: object) -> bool:
    return not isinstance(value, Default)


def common_options() -> argparse.ArgumentParser:
    """--config and --secrets, accepted before or after any subcommand (the later one wins).

    The subcommands' copies default to SUPPRESS, so a value given before the subcommand is kept
    unless the subcommand is given its own.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="relay.toml to use (default: relay.toml)")
    common.add_argument(
        "--secrets", default=argparse.SUPPRESS, help="local secrets file (default: relay.secrets.toml)"
    )
    return common


def printable(text: object) -> str:
    """Text from elsewhere (a partner's error, a dead letter's reason) safe to print to a terminal:
    control characters are written out (an ESC must not recolour or move the operator's screen)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def chosen_source(config: RelayConfig, name: str, command: str) -> SourceConfig:
    """The source a command's SOURCE argument names; else `relay COMMAND` exits saying which exist."""
    try:
        return source_config(config, name)
    except MapError as exc:
        raise SystemExit(f"relay {command}: {exc}") from None


def preflight_options(parser: argparse.ArgumentParser) -> None:
    """The options `relay preflight` and `relay deploy` share."""
    parser.add_argument("--allow-second-stack", action="store_true", help="deploy beside another relay stack")
    parser.add_argument("--region", help="the stack's region (default: the AWS configuration's)")
