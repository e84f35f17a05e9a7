"""`make deploy GUIDED=1`: the few questions a first deploy needs, asked by the relay with working
defaults, instead of `sam deploy --guided`'s twenty-odd (two of which, "IngressFunction has no
authentication. Is this okay? [y/N]", stop the deploy when answered with their default).

- the stack's name (samconfig.toml's, `northca-relay`);
- who is told when an alarm fires: an email address (AlarmEmail), and/or the Secrets Manager name of a
  Discord webhook URL (DiscordWebhookSecretName, docs/alarms.md); none by default.

The region is not asked: it is the AWS configuration's (AWS_REGION or AWS_PROFILE), as every relay
command reads it. The answers are saved in samconfig.toml, where `make deploy` reads them next time:
the stack name in `[ENV.global.parameters]`, the alarm settings in `[ENV.deploy.parameters]`'s
`parameter_overrides`. The file is edited line by line, so its comments stay.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from relay_devtools.operations.deploy import parameter_overrides
from relay_devtools.operations.preflight import DEFAULT_STACK, STACK_NAME, samconfig_value

# The template's own patterns (template.yaml: AlarmEmail, DiscordWebhookSecretName).
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]+$")
ALARM_PARAMETERS = ("AlarmEmail", "DiscordWebhookSecretName")

Ask = Callable[[str], str]


@dataclass(frozen=True)
class Answers:
    stack_name: str
    alarm_email: str = ""
    discord_secret: str = ""

    def overrides(self) -> dict[str, str]:
        """The template parameters the answers set (empty answers set none)."""
        chosen = {"AlarmEmail": self.alarm_email, "DiscordWebhookSecretName": self.discord_secret}
        return {key: value for key, value in chosen.items() if value}


def current_answers(samconfig: Path, env: str) -> Answers:
    """What samconfig.toml says today: the defaults of the questions."""
    overrides = parameter_overrides(samconfig, env)
    return Answers(
        samconfig_value(samconfig, env, "stack_name") or DEFAULT_STACK,
        overrides.get("AlarmEmail", ""),
        overrides.get("DiscordWebhookSecretName", ""),
    )


def _question(ask: Ask, prompt: str, default: str, valid: Callable[[str], str | None]) -> str:
    """Ask until the answer is valid; Enter keeps the default, '-' clears it."""
    shown = default or "none"
    while True:
        answer = ask(f"{prompt} [{shown}]: ").strip()
        value = default if answer == "" else "" if answer == "-" else answer
        problem = valid(value)
        if problem is None:
            return value
        print(f"  {problem}")


def ask_answers(ask: Ask, defaults: Answers, region: str) -> Answers:
    print(f"relay deploy: a few questions (Enter keeps the [default], '-' clears it); region {region}")
    stack = _question(
        ask,
        "Stack name",
        defaults.stack_name,
        lambda v: None if STACK_NAME.match(v) else "a letter, then letters, digits or '-' (128 at most)",
    )
    email = _question(
        ask,
        "Email told when an alarm fires (AWS mails a confirmation link first)",
        defaults.alarm_email,
        lambda v: None if not v or EMAIL.match(v) else "an address like admin@example.org, or '-' for none",
    )
    discord = _question(
        ask,
        "Secrets Manager name of a Discord webhook URL for the alarms (docs/alarms.md)",
        defaults.discord_secret,
        lambda v: None if not v or SECRET_NAME.match(v) else "letters, digits and /_+=.@- only, or '-'",
    )
    return Answers(stack, email, discord)


# ------------------------------------------------------------------ samconfig.toml, edited in place


def _section(lines: list[str], header: str) -> tuple[int, int] | None:
    """The line range of a `[header]` table's body, or None when the file has no such table."""
    start = next((i for i, line in enumerate(lines) if line.strip() == f"[{header}]"), None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    return start + 1, end


def _set(lines: list[str], header: str, key: str, rendered: str) -> list[str]:
    """`key = rendered` in the `[header]` table: the line replaced, else added (the table too)."""
    found = _section(lines, header)
    if found is None:
        return [*lines, "", f"[{header}]", f"{key} = {rendered}"]
    start, end = found
    for i in range(start, end):
        if re.match(rf"^\s*{re.escape(key)}\s*=", lines[i]):
            return [*lines[:i], f"{key} = {rendered}", *lines[i + 1 :]]
    while end > start and not lines[end - 1].strip():
        end -= 1
    return [*lines[:end], f"{key} = {rendered}", *lines[end:]]


def save_answers(samconfig: Path, env: str, answers: Answers) -> None:
    """The answers into samconfig.toml's `env` (comments and other settings kept)."""
    lines = samconfig.read_text(encoding="utf-8").splitlines() if samconfig.exists() else ["version = 0.1"]
    lines = _set(lines, f"{env}.global.parameters", "stack_name", json.dumps(answers.stack_name))
    overrides = {k: v for k, v in parameter_overrides(samconfig, env).items() if k not in ALARM_PARAMETERS}
    overrides |= answers.overrides()
    lines = _set(lines, f"{env}.deploy.parameters", "parameter_overrides", json.dumps(render(overrides)))
    samconfig.write_text("\n".join(lines) + "\n", encoding="utf-8")


def render(overrides: Mapping[str, str]) -> str:
    """`Key="Value" ...`, as samconfig.toml and `sam deploy --parameter-overrides` take them."""
    return " ".join(f'{key}="{value}"' for key, value in overrides.items())


SAM_GUIDED_NOTE = (
    "relay deploy: SAM's own questions follow. Two of them need an answer other than their default:\n"
    "  'IngressFunction has no authentication. Is this okay? [y/N]' (asked once per route): answer y. The\n"
    "  webhooks are authenticated by their signatures, checked in the function (docs/security.md); N\n"
    "  stops the deploy with 'Security Constraints Not Satisfied!'.\n"
    "  'Save arguments to configuration file [Y/n]': Y keeps them in samconfig.toml for make deploy.\n"
    "The others' defaults work. `make deploy GUIDED=1` asks only the relay's few instead."
)
