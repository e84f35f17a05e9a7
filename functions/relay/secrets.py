"""Secrets from Secrets Manager through Powertools `parameters` (cached), as lists for rotation."""

from __future__ import annotations

import json
from typing import Protocol

from aws_lambda_powertools.utilities import parameters

DEFAULT_MAX_AGE_SECONDS = 300


class SecretsSource(Protocol):
    def get(self, name: str, *, force_fetch: bool = False) -> list[str]: ...


def parse_secret_value(raw: str) -> list[str]:
    """A plain string is one secret; a JSON array of strings is several valid ones (rotation)."""
    text = raw.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError:
            return [text]
        if isinstance(values, list) and all(isinstance(v, str) for v in values):
            return [v for v in values if v]
    return [text] if text else []


class PowertoolsSecrets:
    """Reads through Powertools' cached provider; `force_fetch` after a 401 picks up a rotated value."""

    def __init__(self, max_age: int = DEFAULT_MAX_AGE_SECONDS) -> None:
        self.max_age = max_age

    def get(self, name: str, *, force_fetch: bool = False) -> list[str]:
        value = parameters.get_secret(name, max_age=self.max_age, force_fetch=force_fetch)
        return parse_secret_value(value)


class StaticSecrets:
    """Secrets held in memory: for tests and tools. Same contract as the Powertools one."""

    def __init__(self, values: dict[str, str | list[str]]) -> None:
        self.values = dict(values)
        self.fetches: list[tuple[str, bool]] = []

    def get(self, name: str, *, force_fetch: bool = False) -> list[str]:
        self.fetches.append((name, force_fetch))
        value = self.values.get(name)
        if value is None:
            return []
        return list(value) if isinstance(value, list) else parse_secret_value(value)
