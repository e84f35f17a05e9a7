"""What the ingress and the sources remember between requests: deliveries already queued, and the
sources' own state (ER:LC rosters, Sonoran's identId cache)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from relay.models import SOURCE_STATE_TTL_SECONDS


class ReplayGuard(Protocol):
    """Deliveries already queued, remembered for a while (relay.ingress.replay)."""

    def seen(self, key: str, now: datetime) -> bool:
        """True if the key was remembered and has not expired at `now`."""
        ...

    def remember(self, key: str, now: datetime, ttl_seconds: int) -> bool:
        """Record the key until `now + ttl_seconds`. False if a live record was already there."""
        ...


class SourceStateStore(Protocol):
    """What sources remember between requests (ER:LC rosters, Sonoran's identId cache): JSON values
    under (pk, sk) keys of the state table, with a TTL. An expired item reads as absent."""

    def get(self, pk: str, sk: str) -> Any | None: ...

    def put(self, pk: str, sk: str, value: Any, ttl_seconds: int = SOURCE_STATE_TTL_SECONDS) -> None: ...

    def delete(self, pk: str, sk: str) -> None: ...
