"""How an adapter reaches the state store: through the lookups the caller injects, never boto3."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relay.kvstore import DEFAULT_TTL_SECONDS, STATE_DELETE, STATE_GET, STATE_PUT
from relay.sources import AdapterContext


class StateNotWiredError(RuntimeError):
    """An adapter that needs state ran without a store: a wiring bug, not bad input."""


@dataclass(frozen=True)
class SourceState:
    _get: Callable[..., Any]
    _put: Callable[..., Any]
    _delete: Callable[..., Any]

    @classmethod
    def of(cls, context: AdapterContext, adapter: str) -> SourceState:
        lookups = context.lookups
        missing = [name for name in (STATE_GET, STATE_PUT, STATE_DELETE) if name not in lookups]
        if missing:
            raise StateNotWiredError(f"adapter {adapter!r} needs the state store (lookups {missing} missing)")
        return cls(lookups[STATE_GET], lookups[STATE_PUT], lookups[STATE_DELETE])

    def get(self, pk: str, sk: str) -> Any | None:
        return self._get(pk, sk)

    def put(self, pk: str, sk: str, value: Any, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._put(pk, sk, value, ttl_seconds)

    def delete(self, pk: str, sk: str) -> None:
        self._delete(pk, sk)
