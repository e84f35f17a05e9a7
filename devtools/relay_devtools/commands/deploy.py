"""`relay deploy --config FILE [--guided] [--dry-run]`: `sam deploy` with samconfig.toml's parameter
overrides plus PartnerKeySecretName read from FILE (operations/deploy.py builds the command line)."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from relay.config.loader import load_config
from relay_devtools.operations.deploy import deploy_command, parameter_overrides
from relay_devtools.operations.preflight import derived_parameters, print_preflight, run_preflight
from relay_devtools.options import Subparsers, preflight_options


def register(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    deploy = subparsers.add_parser(
        "deploy", parents=parents, help="sam deploy with the config's partner key name (make deploy runs it)"
    )
    deploy.add_argument("--sam", default="sam", help="how to run SAM (make deploy: uv tool run ... sam)")
    deploy.add_argument("--guided", action="store_true", help="sam deploy --guided (the first time)")
    deploy.add_argument("--config-env", default="default", help="samconfig.toml's environment (e.g. prod)")
    deploy.add_argument("--samconfig", default="samconfig.toml")
    deploy.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    deploy.add_argument("--no-preflight", action="store_true", help="skip relay preflight's checks")
    deploy.add_argument("--template", default="template.yaml")
    preflight_options(deploy)
    return deploy


def run(args: argparse.Namespace) -> int:
    derived: dict[str, str] = {}
    if args.dry_run:  # no AWS: what the config alone decides
        derived = derived_parameters(load_config(Path(args.config)), None)
    elif not args.no_preflight:
        result = run_preflight(
            Path(args.config),
            Path(args.samconfig),
            args.config_env,
            Path(args.template),
            parameter_overrides(Path(args.samconfig), args.config_env),
            region=args.region,
            allow_second_stack=args.allow_second_stack,
        )
        print_preflight(result)
        if not result.passed:
            print("relay deploy: the pre-flight failed; nothing was deployed", file=sys.stderr)
            return 1
        derived = result.derived
    command = deploy_command(
        shlex.split(args.sam),
        Path(args.config),
        Path(args.samconfig),
        args.config_env,
        guided=args.guided,
        derived=derived,
    )
    if args.region:
        command += ["--region", args.region]
    print("relay deploy: " + shlex.join(command), flush=True)
    if args.dry_run:
        return 0
    try:
        return subprocess.run(command, check=False).returncode
    except FileNotFoundError:
        print(
            f"relay deploy: {command[0]} not found; run `make deploy` (it runs SAM through uv)",
            file=sys.stderr,
        )
        return 1
