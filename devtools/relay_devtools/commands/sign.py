"""`relay sign SOURCE`: print (or --send) a correctly signed webhook for a source; with --wait, follow it
in relay local's feed until the consumer has dealt with it. With --stack NAME it signs with the secret in
Secrets Manager and goes to the deployed stack's URL: a test event against the real thing."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import urllib.error
import urllib.request
from pathlib import Path

from relay.config.loader import load_config
from relay.config.schema import BodyKeySignature, RelayConfig, SourceConfig
from relay_devtools.options import DEFAULTS, Subparsers, beside_local, chosen_source, printable
from relay_devtools.webhooks.samples import default_body, stamped

LOCAL_URL = "http://127.0.0.1:3000"


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    signer = subparsers.add_parser(
        "sign", parents=parents, help="print (or --send) a correctly signed webhook for a source"
    )
    signer.add_argument("source")
    signer.add_argument("--body", help="JSON body (default: a sample the source's adapter reads)")
    signer.add_argument("--file", help="read the body from this file")
    signer.add_argument(
        "--url", help=f"the relay's base URL (default: the relay local running here, else {LOCAL_URL})"
    )
    signer.add_argument("--send", action="store_true", help="send it instead of printing a curl line")
    signer.add_argument(
        "--wait", action="store_true", help="with --send: wait for the consumer and print what became of it"
    )
    signer.add_argument("--wait-seconds", type=float, default=30.0, help="how long --wait waits")
    signer.add_argument(
        "--keep-times", action="store_true", help="send a sample with the file's event times (default: now)"
    )
    signer.add_argument(
        "--stack", help="a deployed stack: its webhook URL, and the secret from Secrets Manager"
    )
    signer.add_argument("--region", help="the stack's region (default: the AWS configuration's)")
    return signer


def run(args: argparse.Namespace) -> int:
    local = None if args.stack else beside_local(args)
    if args.stack and args.wait:
        raise SystemExit(
            f"relay sign: --wait follows relay local's feed; for {args.stack}, send it, then: "
            f"relay deliveries --stack {args.stack} --source {args.source} --since 5m"
        )
    config = load_config(args.config)
    source = chosen_source(config, args.source, "sign")
    if args.stack:
        base, secret, private_key = _from_stack(args, config, source.signature.secret)
        args.url = args.url or base
    else:
        args.url = args.url or (str(local["ingress"]).removesuffix("/hooks") if local else LOCAL_URL)
        secret, private_key = _from_file(args, source.signature.secret)
    url, headers, body = _signed(args, source, secret, private_key)
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
        print(exc.code, printable(exc.read().decode(errors="replace")))
        if exc.code == 401:
            print(f"relay sign: {_why_rejected(args)}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        hint = "" if args.stack else "; is `relay local` running?"
        print(f"relay sign: could not reach {url} ({exc.reason}){hint}", file=sys.stderr)
        return 1
    print(status, printable(text), flush=True)
    if args.wait and status == 202:
        return wait_and_print(args, text)
    return 0


def _missing_secret_hint(args: argparse.Namespace, name: str) -> str:
    if str(args.secrets) == DEFAULTS["secrets"]:
        fix = "run `make run` once to create demo values, or add it"
    else:
        fix = f"add it, or run `relay local --secrets {args.secrets}` once to create demo values"
    return f"relay sign: {args.secrets} has no secret {name!r} ({fix})"


def _from_file(args: argparse.Namespace, name: str) -> tuple[str, str | None]:
    """The secret's newest value in the secrets file, and the sender's private key (ed25519)."""
    from relay_devtools.files.secrets_file import load_secrets_file

    secrets = load_secrets_file(Path(args.secrets))
    if name not in secrets.secrets:
        raise SystemExit(_missing_secret_hint(args, name))
    return secrets.newest(name), secrets.signing_keys.get(name)


def _from_stack(args: argparse.Namespace, config: RelayConfig, name: str) -> tuple[str, str, None]:
    """The stack's webhook base URL and the secret's newest value in Secrets Manager (the bundle's
    entry, or its own secret)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from relay_devtools.operations.doctor import newest_value, secrets_manager_lookup
    from relay_devtools.operations.stack import StackError, describe_stack, webhook_base
    from relay_devtools.options import aws_problem

    options = {"region_name": args.region} if args.region else {}
    try:
        info = describe_stack(boto3.client("cloudformation", **options), args.stack)
        lookup = secrets_manager_lookup(boto3.client("secretsmanager", **options), config.secrets.bundle)
        secret = newest_value(lookup, name)
    except StackError as exc:
        raise SystemExit(f"relay sign: {exc}") from None
    except (BotoCoreError, ClientError) as exc:
        raise SystemExit(f"relay sign: {args.stack}: {aws_problem(exc)}") from None
    base = webhook_base(info.outputs)
    if base is None:
        raise SystemExit(f"relay sign: {args.stack} has no WebhookUrl output (is it the relay's stack?)")
    if secret is None:
        raise SystemExit(
            f"relay sign: {name!r} is not in Secrets Manager (relay secrets push --stack {args.stack})"
        )
    return base, secret, None


def _signed(
    args: argparse.Namespace, source: SourceConfig, secret: str, private_key: str | None
) -> tuple[str, dict[str, str], bytes]:
    from relay_devtools.webhooks.signing import sign

    name = source.signature.secret
    if source.signature.scheme == "ed25519" and private_key is None:
        raise SystemExit(
            f"relay sign: {args.source} is signed by its sender's private key (ER:LC: PRC's), which only "
            "relay local's demo key pair has: test it in game, or with relay local"
        )
    if args.file:
        body = Path(args.file).read_bytes()
    elif args.body:
        body = args.body.encode()
    else:
        body, origin = default_body(source.adapter, source.options)
        if origin.startswith("events/") and not args.keep_times:
            # As its sender would: else a sample at the file's time, sent after a newer change of its
            # unit (every sample names ADAM-12), is skipped as older and the source looks broken.
            body = stamped(body, delivery_id_path=source.delivery_id_path)
            print(f"relay sign: body from {origin}, as a new event (its times set to now)", file=sys.stderr)
        elif origin.startswith("events/"):
            print(f"relay sign: body from {origin} (its event times as the file has them)", file=sys.stderr)
    if isinstance(source.signature, BodyKeySignature):
        _check_body_key_body(body, source.signature.field)
    try:
        delivery = sign(source.signature, body, secret, private_key=private_key)
    except ValueError as exc:  # a value the scheme cannot use (decode_whsec's words): name the secret
        raise SystemExit(
            f"relay sign: secret {name!r} in {args.stack or args.secrets} cannot sign for {args.source} "
            f"({source.signature.scheme}): {exc}"
        ) from None
    url = f"{args.url.rstrip('/')}/hooks/{args.source}" + (
        f"/{delivery.path_token}" if delivery.path_token else ""
    )
    return url, delivery.headers, delivery.body


def _check_body_key_body(body: bytes, field: str) -> None:
    """A body-key sender puts its key in a field of the JSON object it sends: a body that is none cannot
    be signed (said as the body's fault, not the secret's)."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise SystemExit(
            f"relay sign: the body is not JSON ({exc}); a body-key source's key goes in it"
        ) from None
    if not isinstance(payload, dict):
        raise SystemExit(
            f"relay sign: the body is JSON but not an object; a body-key source's key goes in its {field!r}"
        )


def _why_rejected(args: argparse.Namespace) -> str:
    """Why the relay refused the signature: relay local's feed says (the ingress logs the reason and
    answers only `Unauthorized`); a deployed stack's log says it to `relay deliveries`."""
    from relay_devtools.deliveries.feed import fetch_feed

    if args.stack:
        return (
            f"the relay refused the signature; its reason is in the stack's log: relay deliveries --stack "
            f"{args.stack} --source {args.source} --since 5m"
        )
    try:
        feed = fetch_feed(f"{args.url.rstrip('/')}/_relay/deliveries?source={args.source}")
    except (OSError, ValueError):
        feed = []
    rejected = next((d for d in feed if d.get("answer") == "rejected"), None)
    if rejected is None:
        return (
            f"the relay refused the signature; the reason is in its log (relay deliveries --stack NAME "
            f"--source {args.source})"
        )
    return (
        f"the relay refused the signature: {printable(rejected.get('why') or rejected.get('reason'))}. "
        f"relay sign signed with {args.secrets}'s value of {args.source}'s secret; the stack checks its own "
        "copy (relay local: the secrets file it was started with, read again whenever it is saved)"
    )


def wait_and_print(args: argparse.Namespace, answer: str) -> int:
    """Follow the delivery in relay local's feed until the consumer has dealt with it."""
    from relay_devtools.deliveries.feed import fetch_feed, wait_for_outcome

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
    if found.get("outcome") == "retrying":
        print(
            "relay sign: the consumer gave it back and tries again after its retry delay (then the DLQ); "
            f"the page follows it: {feed.removesuffix('/deliveries?source=' + args.source)}",
            file=sys.stderr,
        )
    return 0 if found.get("outcome") in ("written", "skipped") else 1
