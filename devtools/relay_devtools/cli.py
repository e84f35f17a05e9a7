"""`relay`: the operator's tools: run the relay on this machine and send it signed webhooks, see every
delivery and why, check a setup, deploy it (docs/operations.md)."""

from __future__ import annotations

import argparse
import os
import sys

from relay import __version__
from relay.errors import ConfigError
from relay_devtools.commands import (
    Command,
    bytecode,
    calls,
    cost,
    deliveries,
    deploy,
    doctor,
    inspect,
    local,
    preflight,
    redrive,
    replay,
    resync,
    secrets_push,
    ship_config,
    sign,
    teardown,
    units,
    urls,
)
from relay_devtools.commands import map as map_command  # `map` alone would hide the builtin
from relay_devtools.files.config_hints import explain
from relay_devtools.files.secrets_file import SecretsFileError
from relay_devtools.options import DEFAULTS, Default, aws_hint, common_options, honour_aws_region

# Every subcommand, in the order `relay --help` lists them: one module each (relay_devtools.commands).
COMMANDS: tuple[Command, ...] = (
    local,
    sign,
    units,
    calls,
    map_command,
    redrive,
    deliveries,
    inspect,
    replay,
    resync,
    doctor,
    urls,
    secrets_push,
    deploy,
    ship_config,
    bytecode,
    preflight,
    teardown,
    cost,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relay", description=__doc__, parents=[common_options()])
    parser.add_argument("--version", action="version", version=f"relay {__version__} (northca-relay)")
    parser.set_defaults(config=Default(DEFAULTS["config"]), secrets=Default(DEFAULTS["secrets"]))
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(subparsers, [common_options()]).set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    added_region = honour_aws_region()
    try:
        return _run(args)
    finally:
        if added_region:  # the process's environment as it was (tests call main in-process)
            os.environ.pop("AWS_DEFAULT_REGION", None)


def _run(args: argparse.Namespace) -> int:
    name = f"relay {args.command}"
    try:
        return int(args.run(args))
    except ConfigError as exc:
        print(f"relay: {explain(str(exc))}", file=sys.stderr)
        return 2
    except SecretsFileError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`relay map ... | head`): stop quietly, as the Python docs advise.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:  # a file named on the command line, or its folder: say which and why
        if os.environ.get("RELAY_DEBUG"):
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"{name}: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except Exception as exc:  # an operator's tool answers in one line; RELAY_DEBUG=1 shows the trace
        if os.environ.get("RELAY_DEBUG"):
            raise
        print(f"{name}: {aws_hint(exc) or f'{type(exc).__name__}: {exc}'}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
