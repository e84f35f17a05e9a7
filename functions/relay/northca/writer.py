"""The partner key around the client: fetched from Secrets Manager, and fetched again when refused.

The secret is a rotation list, newest last (relay.models.parse_secret_value): calls use the newest
key. When the partner refuses it (401, or 403, which a key of another partner account also gets), the
list is fetched again (`force_fetch`, so a rotation is seen at once) and each of its keys is tried,
newest first, before the refusal stands. During a rotation (`["OLD", "NEW"]`) the relay therefore
works whichever of the two the partner accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from relay.errors import NorthcaAuthError, NorthcaForbiddenError
from relay.northca.client import NorthcaClient
from relay.observability import logger
from relay.ports.partner import (
    CallRecord,
    CallValue,
    NewCall,
    PanicAnswer,
    PartnerUnit,
    UnitRecord,
    UpsertAnswer,
)
from relay.ports.secrets import SecretsSource

T = TypeVar("T")


class PartnerWriter:
    """relay.ports.partner.UnitWriter and EmergencyWriter with the key's life cycle."""

    def __init__(
        self, secrets: SecretsSource, secret_name: str, make_client: Callable[[str], NorthcaClient]
    ) -> None:
        self.secrets = secrets
        self.secret_name = secret_name
        self.make_client = make_client
        self._client: NorthcaClient | None = None

    def _keys(self, *, refresh: bool) -> list[str]:
        keys = self.secrets.get(self.secret_name, force_fetch=refresh)
        if not keys:
            raise NorthcaAuthError(f"secret {self.secret_name} holds no partner key")
        return keys

    def _with_key(self, key: str) -> NorthcaClient:
        if self._client is None:
            self._client = self.make_client(key)
        else:
            self._client.partner_key = key  # keep the pool and its warm connections
        return self._client

    def client(self) -> NorthcaClient:
        if self._client is None:
            return self._with_key(self._keys(refresh=False)[-1])
        return self._client

    def _call(self, call: Callable[[NorthcaClient], T]) -> T:
        try:
            return call(self.client())
        except (NorthcaAuthError, NorthcaForbiddenError) as exc:
            refused: NorthcaAuthError | NorthcaForbiddenError = exc
        logger.warning(
            "partner refused the key, fetching it again",
            extra={"secret": self.secret_name, "status": refused.status},
        )
        for key in reversed(self._keys(refresh=True)):
            try:
                return call(self._with_key(key))
            except (NorthcaAuthError, NorthcaForbiddenError) as exc:
                refused = exc
        raise refused

    def upsert_units(
        self, mdt_id: str, guild_id: str, units: Sequence[UnitRecord], actor: str | None = None
    ) -> UpsertAnswer:
        return self._call(lambda client: client.upsert_units(mdt_id, guild_id, units, actor))

    def list_units(self, mdt_id: str, guild_id: str) -> dict[str, PartnerUnit]:
        return self._call(lambda client: client.list_units(mdt_id, guild_id))

    def create_call(
        self, mdt_id: str, guild_id: str, call: NewCall, actor: str | None = None
    ) -> CallRecord | None:
        return self._call(lambda client: client.create_call(mdt_id, guild_id, call, actor))

    def update_call(
        self,
        mdt_id: str,
        guild_id: str,
        call_id: str,
        fields: Mapping[str, CallValue],
        actor: str | None = None,
    ) -> CallRecord | None:
        return self._call(lambda client: client.update_call(mdt_id, guild_id, call_id, fields, actor))

    def trigger_panic(
        self, mdt_id: str, guild_id: str, unit_id: str, address: str | None, actor: str | None = None
    ) -> PanicAnswer:
        return self._call(lambda client: client.trigger_panic(mdt_id, guild_id, unit_id, address, actor))
