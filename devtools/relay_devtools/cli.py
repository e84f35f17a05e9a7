"""`relay`: the operator's tools: run the relay on this machine and send it signed webhooks, see every
delivery and why, check a setup, deploy it (docs/operations.md)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import urllib.error
import urllib.request
from pathlib import Path

from relay import __version__
from relay.config import RelayConfig, SourceConfig
from relay.errors import ConfigError
from relay.sources.registry import load_config
from relay_devtools import (
    deliveriescmd,
    deploy,
    doctorcmd,
    mapcmd,
    preflightcmd,
    redrive,
    secretspush,
    teardowncmd,
)
from relay_devtools.config_hints import explain
from relay_devtools.cost import costcmd
from relay_devtools.localstate import DEFAULT_STATE_FILE
from relay_devtools.options import Default, common_options, printable
from relay_devtools.secrets_file import SecretsFileError

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
EVENTS = Path(__file__).resolve().parents[2] / "events"
# The sample `relay sign` sends for a source when no body is given: one its adapter reads.
SAMPLES = {
    "erlc-events": "erlc_event_command.json",
    "sonoran": "sonoran_unit_login.json",
    "snailycad": "snailycad_unit_status.json",
    "typeform": "typeform_response.json",
    "tally": "tally_response.json",
    "google-forms": "google_forms_submission.json",
    "discord": "discord_embed.json",
}
DEFAULTS = {"config": "relay.toml", "secrets": "relay.secrets.toml"}


def cmd_local(args: argparse.Namespace) -> int:
    from relay_devtools.local import LocalOptions, LocalStack, PortInUseError
    from relay_devtools.secrets_file import describe_written, git_ignored

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
        f"Then list the units in the emulated MDT:\n"
        f"  .venv/bin/relay{common} units {first}{northca}\n"
        f"Every delivery, its outcome and why: {feed_url}\n"
    )


def _source(config: RelayConfig, name: str, command: str) -> SourceConfig:
    try:
        return mapcmd.source_config(config, name)
    except mapcmd.MapError as exc:
        raise SystemExit(f"relay {command}: {exc}") from None


def _missing_secret_hint(args: argparse.Namespace, name: str) -> str:
    if str(args.secrets) == DEFAULTS["secrets"]:
        fix = "run `make run` once to create demo values, or add it"
    else:
        fix = f"add it, or run `relay local --secrets {args.secrets}` once to create demo values"
    return f"relay sign: {args.secrets} has no secret {name!r} ({fix})"


def default_body(adapter: str) -> tuple[bytes, str]:
    """A body the adapter reads, and where it came from."""
    if adapter == "units":
        return json.dumps(DEMO_BODY).encode(), "the demo unit"
    sample = SAMPLES.get(adapter)
    if sample is None or not (EVENTS / sample).is_file():
        raise SystemExit(
            f"relay sign: no sample body for the {adapter!r} adapter: give one with --file or --body"
        )
    return (EVENTS / sample).read_bytes(), f"events/{sample}"


def _signed(args: argparse.Namespace) -> tuple[str, dict[str, str], bytes]:
    from relay_devtools.secrets_file import load_secrets_file
    from relay_devtools.signing import sign

    config = load_config(args.config)
    source = _source(config, args.source, "sign")
    secrets = load_secrets_file(Path(args.secrets))
    name = source.signature.secret
    if name not in secrets.secrets:
        raise SystemExit(_missing_secret_hint(args, name))
    if args.file:
        body = Path(args.file).read_bytes()
    elif args.body:
        body = args.body.encode()
    else:
        body, origin = default_body(source.adapter)
        if origin.startswith("events/"):
            # Samples carry fixed event times: sent after a newer change they are skipped (the feed says so).
            print(f"relay sign: body from {origin} (its event time is fixed)", file=sys.stderr)
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
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        print(exc.code, exc.read().decode())
        return 1
    except urllib.error.URLError as exc:
        print(f"relay sign: could not reach {url} ({exc.reason}); is `relay local` running?", file=sys.stderr)
        return 1
    print(status, text, flush=True)
    if args.wait and status == 202:
        return wait_and_print(args, text)
    return 0


def wait_and_print(args: argparse.Namespace, answer: str) -> int:
    """Follow the delivery in relay local's feed until the consumer has dealt with it."""
    from relay_devtools.deliveries import fetch_feed, wait_for_outcome

    try:
        webhook_id = json.loads(answer)["data"].get("webhook_id")
    except (ValueError, KeyError, AttributeError):
        webhook_id = None
    feed = f"{args.url.rstrip('/')}/_relay/deliveries?source={args.source}"
    print(
        f"waiting for the consumer (the queue's batching window, {args.wait_seconds:g} s at most) ...",
        flush=True,
    )
    found = wait_for_outcome(lambda: fetch_feed(feed), webhook_id, args.source, timeout=args.wait_seconds)
    if found is None:
        print(f"relay sign: no outcome after {args.wait_seconds:g} s; see {feed}", file=sys.stderr)
        return 1
    print(printable(found.get("outcome")))
    for part in str(found.get("why") or "").split("; "):
        if part:
            print(f"  {printable(part)}")
    return 0 if found.get("outcome") in ("written", "skipped") else 1


def cmd_units(args: argparse.Namespace) -> int:
    from relay.errors import NorthcaError
    from relay.northca.client import NorthcaClient
    from relay_devtools.secrets_file import load_secrets_file

    config = load_config(args.config)
    source = _source(config, args.source, "units")
    key = load_secrets_file(Path(args.secrets)).newest(config.northca.partner_key_secret)
    client = NorthcaClient(args.northca_url, key)
    try:
        units = client.list_units(source.mdt_id, source.guild_id)
    except NorthcaError as exc:
        print(f"relay units: {args.northca_url}: {exc}; is `relay local` running?", file=sys.stderr)
        return 1
    print(json.dumps(units, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relay", description=__doc__, parents=[common_options()])
    parser.add_argument("--version", action="version", version=f"relay {__version__} (northca-relay)")
    parser.set_defaults(config=Default("relay.toml"), secrets=Default("relay.secrets.toml"))
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
    local.add_argument(
        "--state-file",
        default=str(DEFAULT_STATE_FILE),
        help="where the running stack's endpoints are written for the other commands ('' for nowhere)",
    )
    local.set_defaults(func=cmd_local)

    signer = sub.add_parser(
        "sign", parents=common, help="print (or --send) a correctly signed webhook for a source"
    )
    signer.add_argument("source")
    signer.add_argument("--body", help="JSON body (default: a sample the source's adapter reads)")
    signer.add_argument("--file", help="read the body from this file")
    signer.add_argument("--url", default="http://127.0.0.1:3000", help="the relay's base URL")
    signer.add_argument("--send", action="store_true", help="send it instead of printing a curl line")
    signer.add_argument(
        "--wait", action="store_true", help="with --send: wait for the consumer and print what became of it"
    )
    signer.add_argument("--wait-seconds", type=float, default=30.0, help="how long --wait waits")
    signer.set_defaults(func=cmd_sign)

    units = sub.add_parser(
        "units", parents=common, help="list the units the (emulated) MDT of a source holds"
    )
    units.add_argument("source")
    units.add_argument("--northca-url", default="http://127.0.0.1:4010/v1")
    units.set_defaults(func=cmd_units)
    mapcmd.register(sub, common)
    redrive.register(sub, common)
    deliveriescmd.register(sub, common)
    doctorcmd.register(sub, common)
    secretspush.register(sub, common)
    deploy.register(sub, common)
    preflightcmd.register(sub, common)
    teardowncmd.register(sub, common)
    costcmd.register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    name = f"relay {args.command}"
    try:
        return int(args.func(args))
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


def aws_hint(exc: Exception) -> str | None:
    """What to do about the AWS errors an operator meets (no region, no credentials, no endpoint)."""
    kind = type(exc).__name__
    if kind == "NoRegionError":
        return "no AWS region: set AWS_REGION (or AWS_PROFILE)"
    if kind in ("NoCredentialsError", "PartialCredentialsError"):
        return "no AWS credentials: set AWS_PROFILE or sign in (aws sso login)"
    if kind == "EndpointConnectionError":
        return f"cannot reach {getattr(exc, 'kwargs', {}).get('endpoint_url', 'AWS')}"
    return None


if __name__ == "__main__":
    raise SystemExit(main())
