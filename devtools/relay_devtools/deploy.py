"""`make deploy`'s steps: the config that ships in the build, and the `sam deploy` command line.

- `relay ship-config --config FILE`: after `sam build`, FILE becomes every function's relay.toml
  (functions/relay.toml links to the repository's relay.toml; `CONFIG=community.toml` ships another).
- `relay deploy --config FILE [--guided] [--dry-run]`: `sam deploy` with samconfig.toml's parameter
  overrides plus PartnerKeySecretName read from FILE, so the IAM grant always names the secret the
  code reads (relay.toml's northca.partner_key_secret is the one source of truth). The pre-flight
  (relay_devtools.preflight) runs first and adds what it derives (RosterPollState,
  StateTableDeletionProtection); --dry-run derives from the config alone and reads no AWS.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from relay.sources.registry import load_config
from relay_devtools import preflightcmd
from relay_devtools.doctor import PARTNER_KEY_PARAMETER
from relay_devtools.preflight import derived_parameters
from relay_devtools.template import load_template

BUILD_DIR = Path(".aws-sam/build")


def parameter_overrides(samconfig: Path, env: str) -> dict[str, str]:
    """samconfig.toml's `parameter_overrides` for `sam deploy` in `env` (`Key="Value" ...`)."""
    data = tomllib.loads(samconfig.read_text(encoding="utf-8")) if samconfig.exists() else {}
    text = data.get(env, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    if isinstance(text, list):
        text = " ".join(text)
    pairs = {}
    for token in shlex.split(str(text)):
        key, sep, value = token.partition("=")
        if sep:
            pairs[key] = value
    return pairs


def deploy_command(
    sam: list[str],
    config_path: Path,
    samconfig: Path,
    env: str,
    *,
    guided: bool,
    derived: Mapping[str, str] | None = None,
) -> list[str]:
    config = load_config(config_path)
    # What the pre-flight derives never overrides samconfig's values.
    overrides = (
        dict(derived or {})
        | parameter_overrides(samconfig, env)
        | {PARTNER_KEY_PARAMETER: config.northca.partner_key_secret}
    )
    # `--parameter-overrides` replaces samconfig's whole list, so it carries samconfig's values too.
    rendered = " ".join(f'{key}="{value}"' for key, value in overrides.items())
    command = [*sam, "deploy", "--config-env", env, "--parameter-overrides", rendered]
    return [*command, "--guided"] if guided else command


def functions_using(template: Path, code_uri: str = "functions/") -> list[str]:
    """The functions whose code (and so relay.toml) comes from `code_uri`."""
    data = load_template(template)
    default = data.get("Globals", {}).get("Function", {}).get("CodeUri")
    return sorted(
        logical_id
        for logical_id, resource in data.get("Resources", {}).items()
        if resource.get("Type") == "AWS::Serverless::Function"
        and str(resource.get("Properties", {}).get("CodeUri", default)).rstrip("/") == code_uri.rstrip("/")
    )


def ship_config(config: Path, build_dir: Path, template: Path) -> list[Path]:
    """Copy `config` over every built function's relay.toml; returns the files written."""
    load_config(config)  # never ship a config that would fail at the first cold start
    written = []
    for logical_id in functions_using(template):
        target = build_dir / logical_id / "relay.toml"
        if not target.parent.is_dir():
            raise FileNotFoundError(f"{target.parent} missing: run `sam build` first")
        target.unlink(missing_ok=True)
        shutil.copyfile(config, target)
        written.append(target)
    return written


def cmd_ship_config(args: argparse.Namespace) -> int:
    written = ship_config(Path(args.config), Path(args.build_dir), Path(args.template))
    print(
        f"relay ship-config: {args.config} ships as relay.toml in {', '.join(str(p.parent) for p in written)}"
    )
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    derived: dict[str, str] = {}
    if args.dry_run:  # no AWS: what the config alone decides
        derived = derived_parameters(load_config(Path(args.config)), None)
    elif not args.no_preflight:
        result = preflightcmd.run_preflight(
            Path(args.config),
            Path(args.samconfig),
            args.config_env,
            Path(args.template),
            parameter_overrides(Path(args.samconfig), args.config_env),
            region=args.region,
            allow_second_stack=args.allow_second_stack,
        )
        preflightcmd.print_preflight(result)
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


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
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
    preflightcmd.add_options(deploy)
    deploy.set_defaults(func=cmd_deploy)

    ship = subparsers.add_parser(
        "ship-config", parents=parents, help="after sam build: the config becomes every function's relay.toml"
    )
    ship.add_argument("--build-dir", default=str(BUILD_DIR))
    ship.add_argument("--template", default="template.yaml")
    ship.set_defaults(func=cmd_ship_config)
