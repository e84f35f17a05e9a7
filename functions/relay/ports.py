"""Every boundary the logic talks through, as a Protocol (and the one record that crosses the DLQ port).

The logic (ingress, sources, consumer, erlc) takes these as parameters; `relay.aws` and the HTTP
clients implement them for Lambda, `relay.memory` implements the stores in memory for tests, the bench
and the operator's tools, and the contract tests run the same cases over both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from relay.models import SOURCE_STATE_TTL_SECONDS

if TYPE_CHECKING:
    from relay.consumer.unit_state import FieldState, StateWrite, StateWrites, UnitKey, UnitState
    from relay.erlc.client import PlayersAnswer
    from relay.messages import QueueMessage
    from relay.northca.client import UpsertResult


class Publisher(Protocol):
    """The queue: every message or nothing."""

    def send(self, messages: Sequence[QueueMessage]) -> int:
        """Enqueue every message or raise QueueUnavailableError. Returns the number sent."""
        ...


class SecretsSource(Protocol):
    """Secrets by name, as rotation lists (oldest first, newest last; relay.models.parse_secret_value)."""

    def get(self, name: str, *, force_fetch: bool = False) -> list[str]: ...


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


class UnitStateStore(Protocol):
    """The consumer's unit state, with conditional writes (docs/consumer.md)."""

    def read_many(self, keys: Sequence[UnitKey]) -> dict[UnitKey, UnitState]:
        """Strongly consistent reads; a unit without an item comes back as version 0."""
        ...

    def write(self, key: UnitKey, fields: Mapping[str, FieldState], expected_version: int) -> int | None:
        """Replace the unit's fields if the item is still at `expected_version` (0: no item yet): the
        new version, or None when another writer got there first."""
        ...

    def write_many(self, writes: Sequence[StateWrite], can_start: Callable[[], bool]) -> StateWrites:
        """Each write (one per unit) as `write` makes it, concurrently where the store can, each started
        only while `can_start()`; never raises: what failed is in the answer with why."""
        ...


class UnitWriter(Protocol):
    """The partner's active units (relay.northca)."""

    def upsert_units(
        self, mdt_id: str, guild_id: str, units: Sequence[dict[str, Any]], actor: str | None = None
    ) -> UpsertResult: ...

    def list_units(self, mdt_id: str, guild_id: str) -> list[dict[str, Any]]: ...


class VisibilityPort(Protocol):
    def delay(self, receipt_handles: Sequence[str], seconds: int) -> None:
        """Make these in-flight messages visible again in `seconds` (best effort)."""
        ...


@dataclass(frozen=True)
class DeadLetter:
    """A message that can never be written as it is, with the reason an operator will read in the DLQ."""

    message_id: str
    body: str
    reason: str


class DeadLetterPort(Protocol):
    def send(self, letters: Sequence[DeadLetter]) -> set[str]:
        """Put these messages in the DLQ; return the ids of those that are there now."""
        ...


class PlayersApi(Protocol):
    """One ER:LC private server's player list (relay.erlc.client)."""

    def players(self) -> PlayersAnswer: ...


class Webhook(Protocol):
    """An alarm notification's destination (relay.alerts.webhook: a Discord webhook)."""

    def post(self, payload: Mapping[str, Any]) -> None: ...
