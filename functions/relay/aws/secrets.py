"""Secrets Manager through Powertools `parameters` (cached), as rotation lists (newest last)."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from relay.models import parse_secret_value

DEFAULT_MAX_AGE_SECONDS = 300


class PowertoolsSecrets:
    """relay.ports.SecretsSource through Powertools' cached provider; `force_fetch` after a refusal picks
    up a rotated value."""

    def __init__(self, max_age: int = DEFAULT_MAX_AGE_SECONDS) -> None:
        self.max_age = max_age

    def get(self, name: str, *, force_fetch: bool = False) -> list[str]:
        value = parameters.get_secret(name, max_age=self.max_age, force_fetch=force_fetch)
        return parse_secret_value(value)
