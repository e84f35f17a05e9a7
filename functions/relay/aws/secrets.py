"""Secrets Manager through Powertools `parameters` (cached), as rotation lists (newest last)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities import parameters

from relay.models import parse_secret_value

DEFAULT_MAX_AGE_SECONDS = 300


class PowertoolsSecrets:
    """relay.ports.secrets.SecretsSource through a Powertools provider's cache: its default one, or one on the
    client `make_client` builds at the first fetch (bounded timeouts; nothing built before it is
    needed); `force_fetch` after a refusal picks up a rotated value."""

    def __init__(
        self, max_age: int = DEFAULT_MAX_AGE_SECONDS, make_client: Callable[[], Any] | None = None
    ) -> None:
        self.max_age = max_age
        self.make_client = make_client
        self._provider: Any = None

    def get(self, name: str, *, force_fetch: bool = False) -> list[str]:
        if self.make_client is None:
            value = parameters.get_secret(name, max_age=self.max_age, force_fetch=force_fetch)
        else:
            if self._provider is None:
                self._provider = parameters.SecretsProvider(boto3_client=self.make_client())
            value = self._provider.get(name, max_age=self.max_age, force_fetch=force_fetch)
        return parse_secret_value(value)
