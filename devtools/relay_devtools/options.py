"""The options every `relay` subcommand shares."""

from __future__ import annotations

import argparse


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
