"""`relay`: the operator's tools. `relay local` runs the pipeline; `relay sign` makes a signed webhook."""

from __future__ import annotations

import argparse
import errno
import json
import shlex
import sys
import urllib.error
import urllib.request
from pathlib import Path

from relay import __version__
from relay.errors import ConfigError
from relay.sources.registry import load_config
from relay_devtools import mapcmd, redrive

DEMO_BODY = {
    "units": [
        {
            "id": "ADAM-12",
            "officer_name": "B. Bubbleton",
            "officer_badge": "512",
            "department": "Patrol",
            "rank": "PO",
            "status": "10-8",
        }
    ]
}


def cmd_local(args: argparse.Namespace) -> int:
    from relay_devtools.local import LocalOptions, LocalStack

    stack = LocalStack(
        LocalOptions(
            config=Path(args.config),
            secrets=Path(args.secrets),
            template=Path(args.template),
            host=args.host,
            port=args.port,
            emulator_port=args.emulator_port,
            northca_url=args.northca_url,
            erlc_emulator_port=args.erlc_emulator_port,
            erlc_url=args.erlc_url,
        )
    )
    try:
        stack.start()
    except OSError as exc:
        stack.stop()
        if exc.errno != errno.EADDRINUSE:
            raise
        print(
            f"relay local: a port is already in use ({exc.strerror}). Is another `relay local` running?"
            " Pick free ones with --port, --emulator-port and --erlc-emulator-port.",
            file=sys.stderr,
        )
        return 1
    if stack.created_secrets_file:
        print(f"created {args.secrets} with fresh demo secrets (git-ignored)")
    print(stack.ready_line(), flush=True)
    first = next(iter(stack.config.sources), None)
    if first:
        print(
            f"\nSend a signed demo webhook from another terminal:\n  .venv/bin/relay sign {first} --send\n"
            f"Then list the units in the emulated MDT:\n  .venv/bin/relay units {first}\n",
            flush=True,
        )
    try:
        stack.wait()
    finally:
        stack.stop()
    return 0


def _signed(args: argparse.Namespace) -> tuple[str, dict[str, str], bytes]:
    from relay_devtools.secrets_file import load_secrets_file
    from relay_devtools.signing import sign

    config = load_config(args.config)
    source = config.sources.get(args.source)
    if source is None:
        raise SystemExit(f"relay sign: no source {args.source!r} in {args.config}")
    secrets = load_secrets_file(Path(args.secrets))
    name = source.signature.secret
    if name not in secrets.secrets:
        raise SystemExit(
            f"relay sign: {args.secrets} has no secret {name!r} (run `make run` once to create it)"
        )
    if args.file:
        body = Path(args.file).read_bytes()
    elif args.body:
        body = args.body.encode()
    else:
        body = json.dumps(DEMO_BODY).encode()
    delivery = sign(source.signature, body, secrets.newest(name), private_key=secrets.signing_keys.get(name))
    url = f"{args.url.rstrip('/')}/hooks/{args.source}" + (
        f"/{delivery.path_token}" if delivery.path_token else ""
    )
    return url, delivery.headers, delivery.body


def cmd_sign(args: argparse.Namespace) -> int:
    url, headers, body = _signed(args)
    if not args.send:
        parts = ["curl", "-sS", "-X", "POST", url]
        for name, value in headers.items():
            parts += ["-H", f"{name}: {value}"]
        parts += ["--data-binary", body.decode()]
        print(shlex.join(parts))
        return 0
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - local URL
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local URL
            print(response.status, response.read().decode())
            return 0
    except urllib.error.HTTPError as exc:
        print(exc.code, exc.read().decode())
        return 1
    except urllib.error.URLError as exc:
        print(f"relay sign: could not reach {url} ({exc.reason}); is `relay local` running?", file=sys.stderr)
        return 1


def cmd_units(args: argparse.Namespace) -> int:
    from relay.errors import NorthcaError
    from relay.northca.client import NorthcaClient
    from relay_devtools.secrets_file import load_secrets_file

    config = load_config(args.config)
    source = config.sources.get(args.source)
    if source is None:
        raise SystemExit(f"relay units: no source {args.source!r} in {args.config}")
    key = load_secrets_file(Path(args.secrets)).newest(config.northca.partner_key_secret)
    client = NorthcaClient(args.northca_url, key)
    try:
        units = client.list_units(source.mdt_id, source.guild_id)
    except NorthcaError as exc:
        print(f"relay units: {args.northca_url}: {exc}; is `relay local` running?", file=sys.stderr)
        return 1
    print(json.dumps(units, indent=2))
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relay", description=__doc__, parents=[common_options()])
    parser.add_argument("--version", action="version", version=f"relay {__version__} (northca-relay)")
    parser.set_defaults(config="relay.toml", secrets="relay.secrets.toml")
    sub = parser.add_subparsers(dest="command", required=True)
    common = [common_options()]

    local = sub.add_parser(
        "local", parents=common, help="run the whole relay on this machine (moto + Northca emulator)"
    )
    local.add_argument("--template", default="template.yaml")
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--port", type=int, default=3000)
    local.add_argument("--emulator-port", type=int, default=4010)
    local.add_argument("--northca-url", default=None, help="a real partner API instead of the emulator")
    local.add_argument("--erlc-emulator-port", type=int, default=4020, help="the emulated ER:LC API's port")
    local.add_argument("--erlc-url", default=None, help="a real ER:LC API instead of the emulator")
    local.set_defaults(func=cmd_local)

    signer = sub.add_parser(
        "sign", parents=common, help="print (or --send) a correctly signed webhook for a source"
    )
    signer.add_argument("source")
    signer.add_argument("--body", help="JSON body (default: a demo unit)")
    signer.add_argument("--file", help="read the body from this file")
    signer.add_argument("--url", default="http://127.0.0.1:3000", help="the relay's base URL")
    signer.add_argument("--send", action="store_true", help="send it instead of printing a curl line")
    signer.set_defaults(func=cmd_sign)

    units = sub.add_parser(
        "units", parents=common, help="list the units the (emulated) MDT of a source holds"
    )
    units.add_argument("source")
    units.add_argument("--northca-url", default="http://127.0.0.1:4010/v1")
    units.set_defaults(func=cmd_units)
    mapcmd.register(sub, common)
    redrive.register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"relay: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
