"""`make deploy`'s steps: the config that ships in the build, and the `sam deploy` command line.

- `ship_config` (`relay ship-config --config FILE`): after `sam build`, FILE becomes every function's
  relay.toml (functions/relay.toml links to the repository's relay.toml; `CONFIG=community.toml` ships
  another).
- `deploy_command` (`relay deploy --config FILE`): `sam deploy` with samconfig.toml's parameter
  overrides, the ones given on the command line, plus PartnerKeySecretName read from FILE, so the IAM
  grant always names the secret the code reads (relay.toml's northca.partner_key_secret is the one
  source of truth). The pre-flight (relay_devtools.operations.preflight) runs first and adds what it
  derives (RosterPollState, StateTableDeletionProtection); --dry-run derives from the config alone and
  reads no AWS.
"""

from __future__ import annotations

import shlex
import shutil
import tomllib
from collections.abc import Mapping
from pathlib import Path

from relay.config.loader import load_config
from relay.config.schema import RelayConfig
from relay_devtools.files.template import load_template
from relay_devtools.operations.doctor import PARTNER_KEY_PARAMETER, PREFIX_PARAMETERS

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
    given: Mapping[str, str] | None = None,
) -> list[str]:
    config = load_config(config_path)
    # What the pre-flight derives never overrides samconfig's values, nor what the command line gives
    # (--alarm-email, --parameter); the secrets' names are always the config's.
    overrides = dict(derived or {}) | parameter_overrides(samconfig, env) | dict(given or {})
    overrides |= secret_parameters(config)
    # `--parameter-overrides` replaces samconfig's whole list, so it carries samconfig's values too.
    rendered = " ".join(f'{key}="{value}"' for key, value in overrides.items())
    command = [*sam, "deploy", "--config-env", env, "--parameter-overrides", rendered]
    return [*command, "--guided"] if guided else command


def secret_parameters(config: RelayConfig) -> dict[str, str]:
    """The template parameters that scope the functions' secret grants, from the config: the partner
    key's secret, and with a bundle the bundle for every function (relay.toml `[secrets] bundle`)."""
    parameters = {PARTNER_KEY_PARAMETER: config.secret_id(config.northca.partner_key_secret)}
    folder = config.secrets.folder()
    if folder is not None:
        parameters |= dict.fromkeys(PREFIX_PARAMETERS.values(), folder)
    return parameters


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
