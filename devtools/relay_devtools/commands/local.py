"""`relay local`: the whole relay on this machine (the stack itself is relay_devtools.local)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from relay_devtools.local.state import DEFAULT_STATE_FILE
from relay_devtools.local.terminal import DEFAULT_LOG_FILE
from relay_devtools.options import DEFAULTS, Subparsers

if TYPE_CHECKING:
    from relay_devtools.local.stack import LocalStack

# What a restart keeps, said when relay local stops (everything else lives in this process).
FAREWELL = (
    "relay local stopped. It keeps its state in memory: the queue, the DLQ, the tables and the emulated "
    "MDT's units are gone; {secrets} is kept (the same secrets next time) and {log} holds this run's JSON "
    "log lines."
)


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    local = subparsers.add_parser(
        "local", parents=parents, help="run the whole relay on this machine (moto + Northca emulator)"
    )
    local.add_argument("--template", default="template.yaml")
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--port", type=int, default=3000)
    local.add_argument("--emulator-port", type=int, default=4010)
    local.add_argument("--northca-url", default=None, help="a real partner API instead of the emulator")
    local.add_argument("--erlc-emulator-port", type=int, default=4020, help="the emulated ER:LC API's port")
    local.add_argument("--erlc-url", default=None, help="a real ER:LC API instead of the emulator")
    local.add_argument(
        "--poll-every",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="poll the ER:LC servers this often (default: the template's RosterPollSchedule, a minute)",
    )
    local.add_argument(
        "--log-format",
        choices=("lines", "json"),
        default="lines",
        help="the terminal: a line per answer and unit outcome (default), or the relay's JSON log lines "
        f"as Lambda writes them (lines: the JSON goes to {DEFAULT_LOG_FILE})",
    )
    local.add_argument(
        "--state-file",
        default=str(DEFAULT_STATE_FILE),
        help="where the running stack's endpoints are written for the other commands ('' for nowhere)",
    )
    return local


def _seconds(text: str) -> float:
    """A positive number of seconds (argparse names the flag when this raises)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def run(args: argparse.Namespace) -> int:
    from relay.observability import logger
    from relay_devtools.files.secrets_file import describe_written, git_ignored
    from relay_devtools.local.stack import LocalOptions, LocalStack, PortInUseError
    from relay_devtools.local.terminal import TerminalLines
    from relay_devtools.local.watch import FileWatch

    secrets = Path(args.secrets)
    log_file = DEFAULT_LOG_FILE
    stack = LocalStack(
        LocalOptions(
            config=Path(args.config),
            secrets=secrets,
            template=Path(args.template),
            host=args.host,
            port=args.port,
            emulator_port=args.emulator_port,
            northca_url=args.northca_url,
            erlc_emulator_port=args.erlc_emulator_port,
            erlc_url=args.erlc_url,
            roster_poll_seconds=args.poll_every,
            state_file=Path(args.state_file) if args.state_file else None,
        )
    )
    stopping = _Stopping(stack)
    terminal = None
    if args.log_format == "lines":
        terminal = TerminalLines.install(
            logging.getLogger(logger.name), logger.registered_formatter, log_file
        )
    started = False
    try:
        stack.start()
        started = True
        if terminal is not None:
            terminal.started()
    except PortInUseError as exc:
        print(f"relay local: {exc}. Is another `relay local` running?", file=sys.stderr)
        return 1
    finally:
        if not started:  # what did start is stopped, the handlers put back
            stack.stop()
            stopping.restore()
            if terminal is not None:
                terminal.remove()
    plan = stack.secrets_plan
    if plan is not None and plan.changed:
        print(describe_written(secrets, plan, git_ignored(secrets)))
    print(stack.ready_line(), flush=True)
    print("\n".join(stack.details()), flush=True)
    print(ready_hint(args, stack.ingress_url, stack.northca_url, stack.feed_url, list(stack.config.sources)))
    print("Ctrl-C stops it. Edits to the config or the secrets file are read when saved.\n", flush=True)
    watching = threading.Event()
    FileWatch(stack).start(watching)
    try:
        stopping.wait()
    finally:
        watching.set()
        print("\nrelay local: stopping (Ctrl-C again quits at once) ...", flush=True)
        stack.stop()
        if terminal is not None:
            terminal.remove()
        stopping.restore()
        print(FAREWELL.format(secrets=secrets, log=log_file if terminal is not None else "the terminal"))
    return 0


class _Stopping:
    """Ctrl-C (or SIGTERM) asks relay local to stop: the first press stops it cleanly whenever it comes
    (while starting too), a second one quits at once. No KeyboardInterrupt is ever raised, so no press
    can land a traceback in the middle of starting or stopping."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.asked = threading.Event()
        self._previous: dict[int, Any] = {}
        for number in (signal.SIGINT, signal.SIGTERM):
            # Not in the main thread (a test) there are no handlers: the caller stops it.
            with contextlib.suppress(ValueError):
                self._previous[number] = signal.signal(number, self._on_signal)

    def _on_signal(self, _signal: int, _frame: FrameType | None) -> None:
        if not self.asked.is_set():
            self.asked.set()
            return
        if self.stack.options.state_file is not None:
            self.stack.options.state_file.unlink(missing_ok=True)
        print("\nrelay local: stopped at once", flush=True)
        os._exit(0)  # what was asked for: no "Error" from make

    def wait(self) -> None:
        while not self.asked.wait(0.5):
            pass

    def restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}


def ready_hint(
    args: argparse.Namespace, ingress_url: str, northca_url: str, feed_url: str, sources: list[str]
) -> str:
    """What to type next, with the options this stack was started with (not the defaults)."""
    if not sources:
        return f"\nNo [sources.*] in {args.config}. Every delivery, its outcome and why: {feed_url}\n"
    common = "".join(
        f" --{name} {shlex.quote(str(getattr(args, name)))}"
        for name, default in DEFAULTS.items()
        if str(getattr(args, name)) != default
    )
    base = ingress_url.removesuffix("/hooks")
    url = "" if base == "http://127.0.0.1:3000" else f" --url {base}"
    northca = "" if northca_url == "http://127.0.0.1:4010/v1" else f" --northca-url {northca_url}"
    first = sources[0]
    return (
        f"\nSend a signed demo webhook from another terminal (--wait prints what became of it):\n"
        f"  .venv/bin/relay{common} sign {first} --send --wait{url}\n"
        f"Then list the units, and the calls and panics, in the emulated MDT:\n"
        f"  .venv/bin/relay{common} units {first}{northca}\n"
        f"  .venv/bin/relay{common} calls {first}{northca}\n"
        f"Every delivery, its outcome and why: {feed_url}\n"
    )
