"""The push behind `relay secrets push`: the secrets relay.toml names, from a local file into Secrets
Manager, created or updated; an existing different value is overwritten only when `ask` says so. No
value is ever printed. The client is passed in."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relay.config.schema import RelayConfig
from relay.ingress.keys import usable_keys
from relay.models import parse_secret_value
from relay_devtools.files.secrets_file import SecretsFile
from relay_devtools.operations.doctor import secret_uses

# relay local's generated values (relay_devtools.files.secrets_file): never meant for a deployed stack.
DEMO_PREFIXES = ("demo-",)

Ask = Callable[[str], bool]
DISCORD_WEBHOOK_PREFIXES = (
    "https://discord.com/api/webhooks/",
    "https://discordapp.com/api/webhooks/",
    "https://canary.discord.com/api/webhooks/",
    "https://ptb.discord.com/api/webhooks/",
)


@dataclass(frozen=True)
class Pushed:
    name: str
    action: str  # created | updated | unchanged | kept | refused | missing
    detail: str = ""

    def line(self) -> str:
        return f"{self.action:9} {self.name}" + (f"  ({self.detail})" if self.detail else "")


def is_demo(content: SecretsFile, name: str) -> bool:
    values = content.secrets[name]
    return any(str(v).startswith(DEMO_PREFIXES) for v in (values if isinstance(values, list) else [values]))


def unready(config: RelayConfig, content: SecretsFile) -> list[Pushed]:
    """Every secret that cannot be pushed as the file holds it: missing, relay local's demo value, or
    not usable for what it is for (empty, blank, a key its scheme cannot read). The command writes
    nothing while any is: one bad value used to fail half-way, after writing those sorted before it."""
    problems = []
    for name, (use, decode) in sorted(secret_uses(config).items()):
        if name not in content.secrets:
            problems.append(Pushed(name, "missing", "not in the secrets file"))
        elif is_demo(content, name):
            problems.append(Pushed(name, "refused", "relay local's demo value: put the real one in the file"))
        else:
            try:
                usable_keys(parse_secret_value(content.as_secret_string(name)), decode, use)
            except Exception as exc:  # noqa: BLE001 - UnusableSecretError, or a decoder's own error
                problems.append(Pushed(name, "refused", f"not usable: {str(exc).removeprefix(f'{use}: ')}"))
    return problems


def push(config: RelayConfig, content: SecretsFile, client: Any, ask: Ask) -> list[Pushed]:
    if config.secrets.bundle:
        return push_bundle(config, content, client, ask, config.secrets.bundle)
    return [push_one(name, content, client, ask) for name in sorted(config.secret_names())]


def push_one(name: str, content: SecretsFile, client: Any, ask: Ask) -> Pushed:
    """One secret of its own, from the file: created, updated (if `ask` says so) or left."""
    if name not in content.secrets:
        return Pushed(name, "missing", "not in the secrets file")
    if is_demo(content, name):
        return Pushed(name, "refused", "relay local's demo value: put the real one in the file")
    value = content.as_secret_string(name)
    try:
        current = client.get_secret_value(SecretId=name).get("SecretString")
    except client.exceptions.ResourceNotFoundException:
        client.create_secret(Name=name, SecretString=value)
        return Pushed(name, "created")
    if current == value:
        return Pushed(name, "unchanged")
    if ask(f"{name} exists in Secrets Manager with another value: overwrite it? [y/N] "):
        client.put_secret_value(SecretId=name, SecretString=value)
        return Pushed(name, "updated")
    return Pushed(name, "kept", "the value in Secrets Manager was left as it is")


def discord_webhook_problem(content: SecretsFile, name: str) -> Pushed | None:
    """The alarms' Discord webhook secret (the template's DiscordWebhookSecretName, read by the notifier
    alone, so a secret of its own, never in the bundle): in the file, and a Discord webhook URL."""
    if name not in content.secrets:
        return Pushed(name, "missing", "not in the secrets file")
    values = content.secrets[name]
    for value in values if isinstance(values, list) else [values]:
        if not str(value).startswith(DISCORD_WEBHOOK_PREFIXES):
            return Pushed(name, "refused", "not a Discord webhook URL (https://discord.com/api/webhooks/...)")
    return None


def push_bundle(
    config: RelayConfig, content: SecretsFile, client: Any, ask: Ask, bundle: str
) -> list[Pushed]:
    """Every secret the config names as one entry of the bundle (relay.toml `[secrets] bundle`): written
    once, whole, only when every value is ready (`unready`). Entries the bundle holds that the config
    does not name are kept."""
    names = sorted(config.secret_names())
    problems = unready(config, content)
    if problems:
        return [*problems, Pushed(bundle, "kept", "nothing written: every value must be ready first")]
    wanted: dict[str, Any] = json.loads(content.as_bundle_string(names))
    try:
        current_text = client.get_secret_value(SecretId=bundle).get("SecretString") or "{}"
    except client.exceptions.ResourceNotFoundException:
        client.create_secret(Name=bundle, SecretString=json.dumps(wanted, separators=(",", ":")))
        return [Pushed(bundle, "created", f"{len(names)} secrets")]
    try:
        current = json.loads(current_text)
    except json.JSONDecodeError:
        current = None
    if not isinstance(current, dict):
        return [Pushed(bundle, "kept", "it holds no JSON object: fix or delete it in Secrets Manager first")]
    changed = sorted(name for name, value in wanted.items() if current.get(name) != value)
    if not changed:
        return [Pushed(bundle, "unchanged", f"{len(names)} secrets")]
    replaced = [name for name in changed if name in current]
    if replaced and not ask(f"{bundle} holds other values for {', '.join(replaced)}: overwrite them? [y/N] "):
        return [Pushed(bundle, "kept", "the values in Secrets Manager were left as they are")]
    client.put_secret_value(SecretId=bundle, SecretString=json.dumps(current | wanted, separators=(",", ":")))
    return [Pushed(bundle, "updated", f"{len(changed)} of {len(names)} secrets changed")]
