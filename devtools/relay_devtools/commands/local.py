"""`relay local`: the whole relay on this machine (the stack itself is relay_devtools.local)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from relay_devtools.local.state import DEFAULT_STATE_FILE
from relay_devtools.options import DEFAULTS, Subparsers


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
        "--state-file",
        default=str(DEFAULT_STATE_FILE),
        help="where the running stack's endpoints are written for the other commands ('' for nowhere)",
    )
    return local


def run(args: argparse.Namespace) -> int:
    from relay_devtools.files.secrets_file import describe_written, git_ignored
    from relay_devtools.local.stack import LocalOptions, LocalStack, PortInUseError

    secrets = Path(args.secrets)
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
            state_file=Path(args.state_file) if args.state_file else None,
        )
    )
    try:
        stack.start()
    except PortInUseError as exc:
        stack.stop()
        print(f"relay local: {exc}. Is another `relay local` running?", file=sys.stderr)
        return 1
    plan = stack.secrets_plan
    if plan is not None and plan.changed:
        print(describe_written(secrets, plan, git_ignored(secrets)))
    print(stack.ready_line(), flush=True)
    print("\n".join(stack.details()), flush=True)
    print(ready_hint(args, stack.ingress_url, stack.northca_url, stack.feed_url, list(stack.config.sources)))
    try:
        stack.wait()
    finally:
        stack.stop()
    return 0


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
