"""Adapters turn an authentic payload into unit changes: the contract every sender's module keeps.

An adapter is pure: it gets the parsed body and an `AdapterContext` (receive time, headers, and the
source-state store when its kind says it needs one), and returns `UnitChange`s or raises
`InvalidPayloadError` saying what and where. It never opens a socket or touches boto3. Its state
writes are staged: the ingress commits them only once the request's messages are queued.

relay.sources.registry knows the kinds (and imports a kind's module only when a source uses it);
relay.sources.fields holds the field rules the adapters share; each other module is one sender.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from relay.errors import StateNotWiredError
from relay.models import UnitChange
from relay.ports.stores import SourceStateStore


@dataclass(frozen=True)
class AdapterContext:
    source: str
    received_at: datetime
    headers: Mapping[str, str] = field(default_factory=dict)
    # The source-state store (rosters, caches), for the kinds that need it.
    state: SourceStateStore | None = None

    def require_state(self, adapter: str) -> SourceStateStore:
        if self.state is None:
            raise StateNotWiredError(f"adapter {adapter!r} needs the source-state store, and none is wired")
        return self.state


class Adapter(Protocol):
    def normalise(self, payload: Any, context: AdapterContext) -> list[UnitChange]: ...


@dataclass(frozen=True)
class AdapterKind:
    """A kind of adapter: its options model and how to build it from validated options."""

    options_model: type[BaseModel]
    build: Callable[[Any], Adapter]
    # Content types the adapter reads; the ingress answers 415 to others.
    content_types: tuple[str, ...] = ("application/json",)
    # Reads or writes the source-state store (rosters, caches).
    needs_state: bool = False
    # An authentic body that is empty or not a JSON object is answered 2xx with no change, not 422
    # (PRC checks an ER:LC Event Webhook URL so: a receiver answers 2xx to any validly signed request).
    acknowledges_unreadable: bool = False
