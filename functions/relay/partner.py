"""The partner key around the client: fetched from Secrets Manager, fetched again once on 401 or 403."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from relay.northca import NorthcaAuthError, NorthcaClient, NorthcaError, NorthcaForbiddenError, UpsertResult
from relay.observability import logger
from relay.secrets import SecretsSource


class PartnerWriter:
    def __init__(
        self, secrets: SecretsSource, secret_name: str, make_client: Callable[[str], NorthcaClient]
    ) -> None:
        self.secrets = secrets
        self.secret_name = secret_name
        self.make_client = make_client
        self._client: NorthcaClient | None = None

    def client(self, *, refresh: bool = False) -> NorthcaClient:
        if self._client is None or refresh:
            keys = self.secrets.get(self.secret_name, force_fetch=refresh)
            if not keys:
                raise NorthcaAuthError(f"secret {self.secret_name} holds no partner key")
            key = keys[0]
            if self._client is None:
                self._client = self.make_client(key)
            else:
                self._client.partner_key = key  # keep the pool and its warm connections
        return self._client

    def upsert_units(
        self, mdt_id: str, guild_id: str, units: Sequence[dict[str, Any]], actor: str | None = None
    ) -> UpsertResult:
        try:
            return self.client().upsert_units(mdt_id, guild_id, units, actor)
        except (NorthcaAuthError, NorthcaForbiddenError) as exc:
            # The key may have been rotated since we cached it: fetch it again, once.
            logger.warning(
                "partner refused the key, fetching it again",
                extra={"secret": self.secret_name, "status": exc.status},
            )
            return self.client(refresh=True).upsert_units(mdt_id, guild_id, units, actor)

    def list_units(self, mdt_id: str, guild_id: str) -> list[dict[str, Any]]:
        return self.client().list_units(mdt_id, guild_id)


__all__ = ["NorthcaError", "PartnerWriter"]
