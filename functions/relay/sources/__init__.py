"""Adapters turn an authentic payload into unit changes. One module per kind of source.

An adapter is pure: it gets the parsed body and an `AdapterContext` (receive time, headers, and any
lookups it needs passed in), and returns `UnitChange`s or raises `InvalidPayloadError` saying what
and where.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ValidationError

from relay.errors import ConfigError, InvalidPayloadError
from relay.models import UnitChange

if TYPE_CHECKING:
    from relay.config import SourceConfig


@dataclass(frozen=True)
class AdapterContext:
    source: str
    received_at: datetime
    headers: Mapping[str, str] = field(default_factory=dict)
    # Lookups an adapter may need (e.g. a roster by player id), keyed by name; injected by the caller.
    lookups: Mapping[str, Callable[..., Any]] = field(default_factory=dict)


class Adapter(Protocol):
    def normalise(self, payload: Any, context: AdapterContext) -> list[UnitChange]: ...


@dataclass(frozen=True)
class AdapterKind:
    """A registered adapter: its options model and how to build it from validated options."""

    options_model: type[BaseModel]
    build: Callable[[Any], Adapter]
    # Content types the adapter reads; the ingress answers 415 to others.
    content_types: tuple[str, ...] = ("application/json",)
    # Reads or writes the state store (rosters, caches) through the injected lookups.
    needs_state: bool = False


def _registry() -> dict[str, AdapterKind]:
    from relay.sources import discord, erlc_events, forms, mapping, snailycad, sonoran, units

    return {
        "units": units.KIND,
        "mapping": mapping.KIND,
        "erlc-events": erlc_events.KIND,
        "sonoran": sonoran.KIND,
        "snailycad": snailycad.KIND,
        "typeform": forms.TYPEFORM,
        "tally": forms.TALLY,
        "google-forms": forms.GOOGLE_FORMS,
        "discord": discord.KIND,
    }


ADAPTERS: dict[str, AdapterKind] = {}


def adapter_kinds() -> dict[str, AdapterKind]:
    if not ADAPTERS:
        ADAPTERS.update(_registry())
    return ADAPTERS


def validate_adapter_options(name: str, source: SourceConfig, origin: str) -> BaseModel:
    kinds = adapter_kinds()
    kind = kinds.get(source.adapter)
    if kind is None:
        expected = ", ".join(repr(k) for k in sorted(kinds))
        raise ConfigError(
            f"{origin}: sources.{name}.adapter: expected one of {expected}, got {source.adapter!r}"
        )
    try:
        return kind.options_model.model_validate(source.options)
    except ValidationError as exc:
        details = "; ".join(
            f"{origin}: sources.{name}.options.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ConfigError(details) from None


def build_adapter(name: str, source: SourceConfig) -> tuple[Adapter, AdapterKind]:
    kind = adapter_kinds()[source.adapter]
    options = validate_adapter_options(name, source, "relay.toml")
    return kind.build(options), kind


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """A short, precise message for a 422: the first few problems with their JSON paths."""
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        location = ".".join(str(p) for p in error["loc"])
        where = f"{prefix}.{location}" if prefix and location else (prefix or location or "body")
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def invalid(message: str) -> InvalidPayloadError:
    return InvalidPayloadError(message)
