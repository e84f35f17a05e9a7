"""relay.secrets.toml: the local stand-in for Secrets Manager (git-ignored; a demo one is made on first run).

[secrets]
"northca/partner-key" = "..."
"relay/sources/cad" = "whsec_..."          # or an array of values while rotating
"relay/erlc/main" = "..."                   # an ER:LC server key (the emulator takes any made-up one)

[signing_keys]                              # only for ed25519 sources: the sender's private key (hex)
"relay/sources/erlc" = "..."
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from relay.config.loader import read_toml
from relay.config.schema import RelayConfig
from relay.errors import ConfigError
from relay_devtools.webhooks.signing import new_secret

# A name a person gives is words (`relay/sources/typeform`, `board-token-2024`); a value a generator
# gives has a long run of letters and digits mixed (hex, base64, a Typeform `tf_...` token), or a known
# prefix (a Standard Webhooks `whsec_`, a Discord webhook URL, a PEM key).
_VALUE_PREFIXES = ("whsec_", "-----BEGIN", "https://", "http://")
_RUN = re.compile(r"[A-Za-z0-9+=]{16,}")


def looks_like_a_value(text: str) -> bool:
    """A secret's value rather than a name (relay doctor says where the value goes instead)."""
    if text.startswith(_VALUE_PREFIXES):
        return True
    return any(any(c.isalpha() for c in run) and any(c.isdigit() for c in run) for run in _RUN.findall(text))


class SecretsFileError(ValueError):
    """A secrets file that cannot be used, with the path and what to do: the CLI prints it, no traceback."""


@dataclass
class SecretsFile:
    secrets: dict[str, str | list[str]] = field(default_factory=dict)
    signing_keys: dict[str, str] = field(default_factory=dict)

    def newest(self, name: str) -> str:
        """The value to use: a rotation list's last, as everywhere in the relay."""
        if name not in self.secrets:
            raise SecretsFileError(
                f"no secret {name!r} in the secrets file's [secrets] (relay doctor lists what is missing)"
            )
        value = self.secrets[name]
        return value[-1] if isinstance(value, list) else value

    def as_secret_string(self, name: str) -> str:
        value = self.secrets[name]
        return json.dumps(value) if isinstance(value, list) else value

    def as_bundle_string(self, names: Iterable[str] | None = None) -> str:
        """These secrets (all by default) as one bundle's value: a JSON object by name."""
        chosen = sorted(self.secrets if names is None else names)
        return json.dumps({name: self.secrets[name] for name in chosen}, separators=(",", ":"))


def load_secrets_file(path: Path) -> SecretsFile:
    """The file's secrets; a SecretsFileError naming the file for anything that is not usable."""
    if not path.exists():
        raise SecretsFileError(
            f"{path}: no such secrets file (`make run` creates a demo one; or pass --secrets FILE)"
        )
    try:
        data = read_toml(path, what="secrets file")
    except ConfigError as exc:
        raise SecretsFileError(str(exc)) from None
    tables = {name: data.get(name, {}) for name in ("secrets", "signing_keys")}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise SecretsFileError(f"{path}: [{name}] must be a table")
    for name, value in tables["secrets"].items():
        if not (
            isinstance(value, str)
            or (isinstance(value, list) and value and all(isinstance(v, str) for v in value))
        ):
            raise SecretsFileError(f"{path}: secret {name!r} must be text, or a list of text while rotating")
    if not tables["secrets"] and any(isinstance(v, str) for v in data.values()):
        raise SecretsFileError(f"{path}: secrets belong under a [secrets] header")
    return SecretsFile(secrets=dict(tables["secrets"]), signing_keys=dict(tables["signing_keys"]))


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def write_secrets_file(path: Path, content: SecretsFile) -> None:
    lines = ["# Local secrets for `relay local` (never commit this file).", "[secrets]"]
    for name, value in sorted(content.secrets.items()):
        rendered = (
            "[" + ", ".join(map(_toml_string, value)) + "]"
            if isinstance(value, list)
            else _toml_string(value)
        )
        lines.append(f"{_toml_string(name)} = {rendered}")
    if content.signing_keys:
        lines.append("")
        lines.append("[signing_keys]")
        lines.extend(
            f"{_toml_string(k)} = {_toml_string(v)}" for k, v in sorted(content.signing_keys.items())
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)


@dataclass(frozen=True)
class SecretsPlan:
    """The file's content with a value for every secret the config names, and what had to be added."""

    content: SecretsFile
    added: list[str]
    existed: bool

    @property
    def changed(self) -> bool:
        return bool(self.added)


def plan_secrets_file(path: Path, config: RelayConfig) -> SecretsPlan:
    """The file's content plus a fresh value for every secret the config names and it lacks; nothing
    is written (`relay local` writes it only once the stack is up)."""
    existed = path.exists()
    content = load_secrets_file(path) if existed else SecretsFile()
    added: list[str] = []
    if config.northca.partner_key_secret not in content.secrets:
        content.secrets[config.northca.partner_key_secret] = "demo-" + secrets.token_urlsafe(24)
        added.append(config.northca.partner_key_secret)
    for source in config.sources.values():
        name = source.signature.secret
        if name in content.secrets:
            continue
        value, private_key = new_secret(source.signature.scheme)
        content.secrets[name] = value
        if private_key:
            content.signing_keys[name] = private_key
        added.append(name)
    for server in config.erlc.servers.values():
        # The emulated ER:LC server accepts this key; against the real API, put the server's key here.
        if server.server_key_secret not in content.secrets:
            content.secrets[server.server_key_secret] = "demo-erlc-" + secrets.token_urlsafe(16)
            added.append(server.server_key_secret)
    return SecretsPlan(content, added, existed)


def ensure_secrets_file(path: Path, config: RelayConfig) -> tuple[SecretsFile, bool]:
    """Load the file, adding a fresh value for every secret the config names and the file lacks."""
    plan = plan_secrets_file(path, config)
    if plan.changed:
        write_secrets_file(path, plan.content)
    return plan.content, plan.changed


def git_ignored(path: Path) -> bool | None:
    """Whether git ignores `path` (None: not in a git work tree, or no git)."""
    try:
        answer = subprocess.run(
            ["git", "check-ignore", "-q", str(path.resolve())],
            cwd=path.resolve().parent,
            capture_output=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    # 0: ignored, 1: not ignored, 128: not a work tree (or another fatal error).
    return {0: True, 1: False}.get(answer.returncode)


def describe_written(path: Path, plan: SecretsPlan, ignored: bool | None) -> str:
    """One honest sentence about what was written where."""
    names = ", ".join(plan.added)
    verb = f"added demo values for {names} to" if plan.existed else "created"
    if ignored is True:
        note = " (git-ignored)"
    elif ignored is False:
        note = " -- NOT git-ignored: keep it out of commits (add it to .gitignore)"
    else:
        note = ""
    what = "" if plan.existed else f" with fresh demo secrets ({names})"
    return f"{verb} {path}{what}{note}"
