"""Secrets Manager through Powertools `parameters` (cached), as rotation lists (newest last).

With a bundle (relay.toml `[secrets] bundle`), every secret the config names is one entry of a single
Secrets Manager secret holding a JSON object by name: one secret to pay for instead of one per source.

Values are cached for an hour (each fetch is a billed API call and a KMS decrypt, per container): a
refused partner or ER:LC key is fetched again at once (`force_fetch`), and the ingress fetches a
source's secret again when a signature does not match (at most once a minute per secret), so a rotated
value is still seen within seconds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities import parameters

from relay.models import bundled_value, parse_secret_value

DEFAULT_MAX_AGE_SECONDS = 3600


class PowertoolsSecrets:
    """relay.ports.secrets.SecretsSource through a Powertools provider's cache: its default one, or one on the
    client `make_client` builds at the first fetch (bounded timeouts; nothing built before it is
    needed); `force_fetch` after a refusal picks up a rotated value."""

    def __init__(
        self,
        max_age: int = DEFAULT_MAX_AGE_SECONDS,
        make_client: Callable[[], Any] | None = None,
        bundle: str | None = None,
    ) -> None:
        self.max_age = max_age
        self.make_client = make_client
        self.bundle = bundle
        self._provider: Any = None

    def get(self, name: str, *, force_fetch: bool = False) -> list[str]:
        value = self._fetch(self.bundle or name, force_fetch)
        return bundled_value(value, name) if self.bundle else parse_secret_value(value)

    def _fetch(self, secret_id: str, force_fetch: bool) -> str:
        if self.make_client is None:
            value = parameters.get_secret(secret_id, max_age=self.max_age, force_fetch=force_fetch)
        else:
            if self._provider is None:
                self._provider = parameters.SecretsProvider(boto3_client=self.make_client())
            value = self._provider.get(secret_id, max_age=self.max_age, force_fetch=force_fetch)
        return str(value)
