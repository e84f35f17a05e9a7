"""`relay deploy --config FILE [--guided] [--build CMD] [--dry-run]`: what `make deploy` runs. In order,
so that nothing slow comes before what can fail fast:

1. the AWS credentials and region (sts:GetCallerIdentity);
2. with --guided, the relay's few questions (operations/guided.py), saved in samconfig.toml;
3. the pre-flight (operations/preflight.py): the stack, the account's Lambda limit, the secrets the
   config names in Secrets Manager;
4. the build (--build: `make build`, which checks the config, runs `sam build` and ships it);
5. `sam deploy` with samconfig.toml's parameter overrides, PartnerKeySecretName read from FILE, what
   the pre-flight derives, and the alarm settings and parameters given here (operations/deploy.py)."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import boto3

from relay.config.loader import load_config
from relay_devtools.operations.deploy import deploy_command, parameter_overrides
from relay_devtools.operations.guided import SAM_GUIDED_NOTE, ask_answers, current_answers, save_answers
from relay_devtools.operations.preflight import derived_parameters, print_preflight, run_preflight
from relay_devtools.operations.setup_checks import credentials_check
from relay_devtools.options import Subparsers, preflight_options


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    deploy = subparsers.add_parser(
        "deploy", parents=parents, help="check, build and sam deploy the config (make deploy runs it)"
    )
    deploy.add_argument("--sam", default="sam", help="how to run SAM (make deploy: uv tool run ... sam)")
    deploy.add_argument(
        "--guided", action="store_true", help="the first time: the stack name and who is told of alarms"
    )
    deploy.add_argument(
        "--sam-guided", action="store_true", help="sam deploy --guided instead (its prompts are explained)"
    )
    deploy.add_argument("--build", help="the build to run once the checks pass (make deploy: make build)")
    deploy.add_argument("--alarm-email", help="email the alarms (the template's AlarmEmail)")
    deploy.add_argument(
        "--discord-webhook-secret", help="Secrets Manager name of a Discord webhook URL for the alarms"
    )
    deploy.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template parameter (repeatable)",
    )
    deploy.add_argument(
        "--parameter-overrides",
        default="",
        metavar="'K=V ...'",
        help="template parameters, as SAM takes them",
    )
    deploy.add_argument("--config-env", default="default", help="samconfig.toml's environment (e.g. prod)")
    deploy.add_argument("--samconfig", default="samconfig.toml")
    deploy.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    deploy.add_argument("--no-preflight", action="store_true", help="skip relay preflight's checks")
    deploy.add_argument("--template", default="template.yaml")
    preflight_options(deploy)
    return deploy


def given_parameters(args: argparse.Namespace) -> dict[str, str]:
    """The template parameters given on the command line: --parameter-overrides (SAM's form), each
    --parameter, and the alarm flags; later ones win."""
    given: dict[str, str] = {}
    for token in shlex.split(args.parameter_overrides):
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise SystemExit(f"relay deploy: --parameter-overrides {token!r} is not KEY=VALUE")
        given[key] = value
    for pair in args.parameter:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"relay deploy: --parameter {pair!r} is not KEY=VALUE")
        given[key] = value
    if args.alarm_email is not None:
        given["AlarmEmail"] = args.alarm_email
    if args.discord_webhook_secret is not None:
        given["DiscordWebhookSecretName"] = args.discord_webhook_secret
    return given


def run(args: argparse.Namespace) -> int:
    given = given_parameters(args)
    samconfig = Path(args.samconfig)
    if args.dry_run:  # no AWS: what the config alone decides
        derived = derived_parameters(load_config(Path(args.config)), None)
        return _deploy(args, derived, given, dry_run=True)
    session = boto3.session.Session(region_name=args.region)
    identity = credentials_check(session)
    print(identity.line(), flush=True)
    if not identity.ok:
        print("relay deploy: nothing was built or deployed", file=sys.stderr)
        return 1
    stack_name = None
    if args.guided:
        answers = ask_answers(input, current_answers(samconfig, args.config_env), str(session.region_name))
        save_answers(samconfig, args.config_env, answers)
        print(f"relay deploy: saved in {samconfig} ({args.config_env}); make deploy reads them next time")
        stack_name = answers.stack_name
    derived = {}
    if not args.no_preflight:
        result = run_preflight(
            Path(args.config),
            samconfig,
            args.config_env,
            Path(args.template),
            parameter_overrides(samconfig, args.config_env) | given,
            region=args.region,
            stack_name=stack_name,
            allow_second_stack=args.allow_second_stack,
        )
        print_preflight(result)
        if not result.passed:
            print("relay deploy: the pre-flight failed; nothing was built or deployed", file=sys.stderr)
            return 1
        derived = result.derived
    if args.build:
        print(f"relay deploy: {args.build}", flush=True)
        built = subprocess.run(args.build, shell=True, check=False)  # noqa: S602 - the Makefile's own line
        if built.returncode != 0:
            print("relay deploy: the build failed; nothing was deployed", file=sys.stderr)
            return built.returncode
    return _deploy(args, derived, given, dry_run=False)


def _deploy(
    args: argparse.Namespace, derived: dict[str, str], given: dict[str, str], *, dry_run: bool
) -> int:
    command = deploy_command(
        shlex.split(args.sam),
        Path(args.config),
        Path(args.samconfig),
        args.config_env,
        guided=args.sam_guided,
        derived=derived,
        given=given,
    )
    if args.region:
        command += ["--region", args.region]
    print("relay deploy: " + shlex.join(command), flush=True)
    if dry_run:
        return 0
    if args.sam_guided:
        print(SAM_GUIDED_NOTE, flush=True)
    try:
        return subprocess.run(command, check=False).returncode
    except FileNotFoundError:
        print(
            f"relay deploy: {command[0]} not found; run `make deploy` (it runs SAM through uv)",
            file=sys.stderr,
        )
        return 1
