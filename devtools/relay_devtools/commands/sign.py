"""`relay sign SOURCE`: print (or --send) a correctly signed webhook for a source; with --wait, follow it
in relay local's feed until the consumer has dealt with it."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import urllib.error
import urllib.request
from pathlib import Path

from relay.config.loader import load_config
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
    return signer


def run(args: argparse.Namespace) -> int:
    local = beside_local(args)
    if not args.url:
        args.url = str(local["ingress"]).removesuffix("/hooks") if local else LOCAL_URL
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
        print(exc.code, printable(exc.read().decode(errors="replace")))
        if exc.code == 401:
            print(f"relay sign: {_why_rejected(args)}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"relay sign: could not reach {url} ({exc.reason}); is `relay local` running?", file=sys.stderr)
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


def _signed(args: argparse.Namespace) -> tuple[str, dict[str, str], bytes]:
    from relay_devtools.files.secrets_file import load_secrets_file
    from relay_devtools.webhooks.signing import sign

    config = load_config(args.config)
    source = chosen_source(config, args.source, "sign")
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
        if origin.startswith("events/") and not args.keep_times:
            # As its sender would: else a sample at the file's time, sent after a newer change of its
            # unit (every sample names ADAM-12), is skipped as older and the source looks broken.
            body = stamped(body, delivery_id_path=source.delivery_id_path)
            print(f"relay sign: body from {origin}, as a new event (its times set to now)", file=sys.stderr)
        elif origin.startswith("events/"):
            print(f"relay sign: body from {origin} (its event times as the file has them)", file=sys.stderr)
    try:
        delivery = sign(
            source.signature, body, secrets.newest(name), private_key=secrets.signing_keys.get(name)
        )
    except ValueError as exc:  # a value the scheme cannot use (decode_whsec's words): name the secret
        raise SystemExit(
            f"relay sign: secret {name!r} in {args.secrets} cannot sign for {args.source} "
            f"({source.signature.scheme}): {exc}"
        ) from None
    url = f"{args.url.rstrip('/')}/hooks/{args.source}" + (
        f"/{delivery.path_token}" if delivery.path_token else ""
    )
    return url, delivery.headers, delivery.body


def _why_rejected(args: argparse.Namespace) -> str:
    """Why the relay refused the signature: relay local's feed says (the ingress logs the reason and
    answers only `Unauthorized`); a deployed stack's log says it to `relay deliveries`."""
    from relay_devtools.deliveries.feed import fetch_feed

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
