"""One module per `relay` subcommand, each the same small interface (`Command`): `register` adds the
subcommand and its flags to the parser and returns the parser whose `run` it is; `run(args)` reads the
flags, calls the logic, prints, and returns the exit code. cli.py lists every module here (a test
fails when one is missing) and is the only importer of this package.

What is more than argument handling (doctor's checks, the delivery trail, redrive's SQS moves, deploy's
steps, secrets push, the dry run) lives outside, in the package of what it works on, so that relay
local, the tests and other commands reach it without a command module."""

from __future__ import annotations

import argparse
from typing import Protocol

from relay_devtools.options import Subparsers


class Command(Protocol):
    """What every module in this package is (mypy checks a module against it)."""

    def register(
        self, subparsers: Subparsers, parents: list[argparse.ArgumentParser]
    ) -> argparse.ArgumentParser: ...

    def run(self, args: argparse.Namespace) -> int: ...
