"""`relay doctor`: check a setup before it fails, one line per check, exit 0 when all pass.

- offline: the config loads, every secret name is under the prefix the template grants, each
  source's signature fits its sender, every source that can have a replay key has one, ids are
  well formed (`make build` runs these, so a config that would fail is never built);
- secrets: each one the config names is present and usable for its scheme (from a local file, or
  from Secrets Manager);
- the partner (partner_checks.py): the key is accepted, every (MDT, guild) pair is linked and its list
  of units is readable whole; where a source sends calls, the calls endpoint answers;
- a stack: it exists, its outputs, its parameters match the config, queue and DLQ depth, and the
  emergency queue that calls and panics need.

Each check returns `Check`s; the command prints them. Clients and lookups are passed in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relay.config.loader import load_config, status_warnings
from relay.config.schema import (
    BodyKeySignature,
    Ed25519Signature,
    HmacSha256Signature,
    RelayConfig,
    SignatureConfig,
    StandardWebhooksSignature,
    timestamp_tolerance,
)
from relay.errors import (
    ConfigError,
)
from relay.ingress.keys import decode_whsec, hmac_key, load_ed25519_public_key, plain_secret, usable_keys
from relay.models import bundled_value, parse_secret_value
from relay.sources.registry import adapter_kind
from relay_devtools.files.config_hints import explain
from relay_devtools.files.secrets_file import load_secrets_file, looks_like_a_value
from relay_devtools.files.template import load_template
from relay_devtools.options import printable

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# The template's parameters that name secrets, and what relay.toml calls them.
PREFIX_PARAMETERS = {"sources": "SourceSecretsPrefix", "erlc": "ErlcServerKeySecretPrefix"}
PARTNER_KEY_PARAMETER = "PartnerKeySecretName"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # passes, but says something the operator should know

    def line(self) -> str:
        """The check as printed: a partner's or a file's text in it cannot move or recolour the terminal."""
        mark = "FAIL" if not self.ok else ("warn" if self.warning else "ok  ")
        # A hint on its own line stays one (config_hints.explain), every other control character written out.
        return "\n".join(printable(part) for part in f"{mark}  {self.name}: {self.detail}".split("\n"))


def passed(checks: list[Check]) -> bool:
    return all(check.ok for check in checks)


# ------------------------------------------------------------------ offline


def template_names(template: Path) -> dict[str, str]:
    """The defaults of the template's secret-name parameters."""
    parameters = load_template(template).get("Parameters", {})
    names = [PARTNER_KEY_PARAMETER, *PREFIX_PARAMETERS.values()]
    return {name: str(parameters[name]["Default"]) for name in names if name in parameters}


def load(path: Path) -> tuple[RelayConfig | None, Check]:
    try:
        config = load_config(path)
    except ConfigError as exc:
        return None, Check("config", False, explain(str(exc)))
    sources, servers = len(config.sources), len(config.erlc.servers)
    return config, Check("config", True, f"{path} loads ({sources} sources, {servers} ER:LC servers)")


def secret_name_checks(config: RelayConfig, names: Mapping[str, str], *, stack: bool = False) -> list[Check]:
    """Every secret under the prefix the template lets its function read."""
    if config.secrets.bundle:
        return _bundle_name_checks(config.secrets.bundle, config.secrets.folder() or "", names, stack=stack)
    checks = []
    partner = config.northca.partner_key_secret
    expected = names.get(PARTNER_KEY_PARAMETER)
    if stack and expected is not None and expected != partner:
        checks.append(
            Check(
                "partner key name",
                False,
                f"the stack grants {PARTNER_KEY_PARAMETER}={expected!r} but northca.partner_key_secret is "
                f"{partner!r}: deploy again with `make deploy` (it passes the config's name)",
            )
        )
    else:
        checks.append(
            Check("partner key name", True, f"{partner!r} (make deploy passes it as {PARTNER_KEY_PARAMETER})")
        )
    wanted = [
        (f"sources.{n}.signature.secret", s.signature.secret, "sources") for n, s in config.sources.items()
    ]
    wanted += [
        (f"erlc.servers.{n}.server_key_secret", s.server_key_secret, "erlc")
        for n, s in config.erlc.servers.items()
    ]
    for where, secret, kind in wanted:
        prefix = names.get(PREFIX_PARAMETERS[kind], "")
        if looks_like_a_value(secret):
            continue  # a value, not a name: the value check says what to do (setup_checks)
        if secret.startswith(prefix) and secret != prefix:
            checks.append(Check("secret name", True, f"{where} = {secret!r} is under {prefix!r}"))
        else:
            checks.append(
                Check(
                    "secret name",
                    False,
                    f"{where} = {secret!r} is not under {prefix!r} ({PREFIX_PARAMETERS[kind]}): the function "
                    f"may not read it; name it {prefix}{secret.rsplit('/', 1)[-1]!s}",
                )
            )
    return checks


def signature_checks(config: RelayConfig) -> list[Check]:
    """Each source's signature as its sender signs, and a replay key where the sender gives one."""
    checks = []
    for name, source in config.sources.items():
        # How the sender signs (its kind's SenderFacts): a source that says otherwise fails every request.
        expected = dict(adapter_kind(source.adapter).sender.signature)
        actual = {
            "scheme": source.signature.scheme,
            "header": getattr(source.signature, "header", "").lower(),
            "prefix": getattr(source.signature, "prefix", None),
            "encoding": getattr(source.signature, "encoding", None),
        }
        wrong = {key: value for key, value in expected.items() if actual.get(key) != value}
        if wrong:
            told = ", ".join(f"{key} = {value!r}" for key, value in wrong.items())
            checks.append(
                Check(
                    "signature", False, f"sources.{name}: {source.adapter} signs with {told} (docs/sources/)"
                )
            )
        else:
            checks.append(Check("signature", True, f"sources.{name}: {source.signature.scheme}"))
        none = source.replay_protection == "none"
        checks.append(_replay_check(name, source.adapter, source.signature, source.delivery_id_path, none))
    return checks


def _replay_check(name: str, adapter: str, signature: SignatureConfig, path: str | None, none: bool) -> Check:
    if timestamp_tolerance(signature) or path or getattr(signature, "delivery_id_header", None):
        return Check("replay key", True, f"sources.{name}: replays are recognised")
    if none:
        return Check("replay key", True, f'sources.{name}: no replay protection (replay_protection = "none")')
    # A sender that signs no timestamp but puts an id in every body: without it as the replay key, a
    # captured delivery can be replayed forever (docs/security.md, "Replay window").
    sender = adapter_kind(adapter).sender
    if sender.delivery_id_path is not None:
        field, required = sender.delivery_id_path, sender.delivery_id_required
        detail = f"sources.{name}: no replay key; set delivery_id_path = {field!r} (docs/security.md)"
        return Check("replay key", not required, detail, warning=not required)
    detail = (
        f"sources.{name}: the sender signs no timestamp and sends no id: replays are not recognised "
        '(replay_protection = "none" acknowledges it)'
    )
    return Check("replay key", True, detail, warning=True)


def status_checks(config: RelayConfig) -> list[Check]:
    """A status one source sets that another source's allow-list refuses (relay.config.loader)."""
    return [Check("statuses", True, warning, warning=True) for warning in status_warnings(config)]


def id_checks(config: RelayConfig) -> list[Check]:
    checks = []
    targets = [(f"sources.{n}", s.mdt_id) for n, s in config.sources.items()]
    targets += [(f"erlc.servers.{n}", s.mdt_id) for n, s in config.erlc.servers.items()]
    for where, mdt_id in targets:
        if re.search(r"[\s/?#%]", mdt_id):
            checks.append(Check("ids", False, f"{where}.mdt_id {mdt_id!r} cannot be part of a URL path"))
        elif not UUID.match(mdt_id):
            checks.append(
                Check("ids", True, f"{where}.mdt_id {mdt_id!r} is not a UUID as Northca's are", warning=True)
            )
        else:
            checks.append(Check("ids", True, f"{where}.mdt_id is a UUID; guild and actor ids are snowflakes"))
    return checks


def offline_checks(config: RelayConfig, names: Mapping[str, str]) -> list[Check]:
    checks = [*secret_name_checks(config, names), *signature_checks(config), *id_checks(config)]
    return checks + status_checks(config)


# ------------------------------------------------------------------ secrets

# A lookup returns the secret's raw value, or None when it does not exist; it raises on other failures.
SecretLookup = Callable[[str], str | None]


def _decoder(signature: SignatureConfig) -> Callable[[str], object]:
    if isinstance(signature, StandardWebhooksSignature):
        return decode_whsec
    if isinstance(signature, HmacSha256Signature):
        return hmac_key
    if isinstance(signature, Ed25519Signature):
        return load_ed25519_public_key
    if isinstance(signature, BodyKeySignature):
        return plain_secret
    return plain_secret


def _bundle_name_checks(bundle: str, folder: str, names: Mapping[str, str], *, stack: bool) -> list[Check]:
    """With a bundle, every function reads that one secret: the stack must grant it to each."""
    wanted = {PARTNER_KEY_PARAMETER: bundle} | dict.fromkeys(PREFIX_PARAMETERS.values(), folder)
    wrong = {key: names[key] for key, value in wanted.items() if key in names and names[key] != value}
    if stack and wrong:
        told = ", ".join(f"{key}={value!r}" for key, value in sorted(wrong.items()))
        detail = f"secrets.bundle = {bundle!r} but the stack grants {told}: deploy again with `make deploy`"
        return [Check("secrets bundle", False, detail)]
    return [Check("secrets bundle", True, f"every secret is an entry of {bundle!r} (make deploy grants it)")]


def secret_checks(config: RelayConfig, lookup: SecretLookup, where: str) -> list[Check]:
    """Each secret present, and usable for what it is (values are never printed)."""
    uses = secret_uses(config)
    checks = []
    for secret, (use, decode) in uses.items():
        try:
            raw = lookup(secret)
        except Exception as exc:  # noqa: BLE001 - any failure to read it is this check's answer
            checks.append(Check("secret", False, f"{secret!r} ({use}): cannot be read from {where}: {exc}"))
            continue
        if raw is None:
            checks.append(Check("secret", False, f"{secret!r} ({use}): missing from {where}"))
            continue
        try:
            values = parse_secret_value(raw)
            usable_keys(values, decode, use)
        except Exception as exc:  # noqa: BLE001 - UnusableSecretError or an unreadable rotation list
            reason = str(exc).removeprefix(f"{use}: ")
            checks.append(Check("secret", False, f"{secret!r} ({use}): present but unusable: {reason}"))
            continue
        rotating = f", {len(values)} values (rotating)" if len(values) > 1 else ""
        checks.append(Check("secret", True, f"{secret!r} ({use}): present and usable{rotating}"))
    return checks


def secret_uses(config: RelayConfig) -> dict[str, tuple[str, Callable[[str], object]]]:
    """Each secret the config names: what it is for, and how a value of it is read (raises ValueError
    when it cannot be: relay.ingress.keys.usable_keys)."""
    uses: dict[str, tuple[str, Callable[[str], object]]] = {
        config.northca.partner_key_secret: ("partner key", plain_secret)
    }
    for name, source in config.sources.items():
        uses[source.signature.secret] = (
            f"sources.{name} ({source.signature.scheme})",
            _decoder(source.signature),
        )
    for name, server in config.erlc.servers.items():
        uses[server.server_key_secret] = (f"erlc.servers.{name}", plain_secret)
    return uses


# ------------------------------------------------------------------ a stack


def queue_depth(sqs: Any, url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0)), int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
    )


def stack_checks(
    outputs: Mapping[str, str], status: str, name: str, sqs: Any, emergencies: Mapping[str, str] | None = None
) -> list[Check]:
    healthy = status.endswith("_COMPLETE") and "ROLLBACK" not in status and "DELETE" not in status
    checks = [Check("stack", healthy, f"{name}: {status}")]
    shown = ", ".join(f"{key}={value}" for key, value in sorted(outputs.items()) if key in ("WebhookUrl",))
    checks.append(Check("stack outputs", bool(outputs), shown or f"{len(outputs)} outputs"))
    queues = (outputs.get("WebhookQueueUrl"), outputs.get("WebhookDlqUrl"), outputs.get("EmergencyQueueUrl"))
    return checks + queue_checks(*queues, sqs, emergencies)


def queue_checks(
    queue: str | None,
    dlq: str | None,
    urgent: str | None,
    sqs: Any,
    emergencies: Mapping[str, str] | None = None,
) -> list[Check]:
    """The queue's messages waiting and in flight, the emergency queue's (or why its absence matters to
    the sources that send calls or panics); the DLQ empty, or its depth with its first reasons."""
    from relay_devtools.operations.redrive import list_dead_letters

    checks = []
    if queue:
        visible, in_flight = queue_depth(sqs, queue)
        checks.append(Check("queue", True, f"{visible} waiting, {in_flight} in flight"))
    if urgent:
        visible, in_flight = queue_depth(sqs, urgent)
        checks.append(Check("emergency queue", True, f"{visible} waiting, {in_flight} in flight"))
    elif emergencies:
        detail = (
            f"the stack has no EmergencyQueue, and {', '.join(sorted(emergencies))} send calls or panics: "
            "they wait the units' batching window; deploy this version (make deploy)"
        )
        checks.append(Check("emergency queue", False, detail))
    if dlq:
        visible, _ = queue_depth(sqs, dlq)
        if visible:
            reasons = sorted({letter.reason for letter in list_dead_letters(sqs, dlq, limit=10)})[:3]
            detail = f"{visible} dead letters; first reasons: {'; '.join(reasons)} (relay redrive --list)"
            checks.append(Check("dlq", False, detail))
        else:
            checks.append(Check("dlq", True, "empty"))
    return checks


# --- where the secrets are read from (the local file, or Secrets Manager) ---


def file_lookup(path: Path) -> SecretLookup:
    content = load_secrets_file(path)
    return lambda name: content.as_secret_string(name) if name in content.secrets else None


def secrets_manager_lookup(client: Any, bundle: str | None = None) -> SecretLookup:
    """A secret's value as Secrets Manager holds it (with a bundle: its entry, as JSON text if a list)."""

    def lookup(name: str) -> str | None:
        try:
            answer = client.get_secret_value(SecretId=bundle or name)
        except client.exceptions.ResourceNotFoundException:
            return None
        raw = str(answer.get("SecretString") or "")
        if bundle is None:
            return raw
        values = bundled_value(raw, name)
        return None if not values else values[0] if len(values) == 1 else json.dumps(values)

    return lookup


def newest_value(lookup: SecretLookup, name: str) -> str | None:
    """The newest of a secret's values, or None when it is missing or unreadable."""
    try:
        raw = lookup(name)
        return parse_secret_value(raw)[-1] if raw else None
    except Exception:  # noqa: BLE001 - the secret check has already said why
        return None
