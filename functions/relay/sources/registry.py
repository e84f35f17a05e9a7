"""The adapter kinds, and everything about relay.toml that depends on them.

A kind's module is imported the first time a source uses it, so a function whose config names one
adapter does not pay for the others at cold start. `load_config` / `parse_config` are the one checked
loader: the schema (relay.config), then every source's options against its kind, then the checks
across sections.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from relay.config import RelayConfig, SourceConfig, parse_schema, read_toml
from relay.errors import ConfigError, InvalidPayloadError, describe_validation_error
from relay.models import UnitChange
from relay.sources import Adapter, AdapterContext, AdapterKind

# adapter name -> (module, attribute) of its AdapterKind
KINDS: dict[str, tuple[str, str]] = {
    "units": ("relay.sources.units", "KIND"),
    "mapping": ("relay.sources.mapping", "KIND"),
    "erlc-events": ("relay.sources.erlc_events", "KIND"),
    "sonoran": ("relay.sources.sonoran", "KIND"),
    "snailycad": ("relay.sources.snailycad", "KIND"),
    "typeform": ("relay.sources.forms", "TYPEFORM"),
    "tally": ("relay.sources.forms", "TALLY"),
    "google-forms": ("relay.sources.forms", "GOOGLE_FORMS"),
    "discord": ("relay.sources.discord", "KIND"),
}


@functools.cache
def adapter_kind(name: str) -> AdapterKind:
    """The kind registered under `name` (KeyError for an unknown one)."""
    module, attribute = KINDS[name]
    kind: AdapterKind = getattr(importlib.import_module(module), attribute)
    return kind


def validate_adapter_options(name: str, adapter: str, options: dict[str, Any], origin: str) -> BaseModel:
    if adapter not in KINDS:
        expected = ", ".join(repr(k) for k in sorted(KINDS))
        raise ConfigError(f"{origin}: sources.{name}.adapter: expected one of {expected}, got {adapter!r}")
    try:
        return adapter_kind(adapter).options_model.model_validate(options)
    except ValidationError as exc:
        prefix = f"sources.{name}.options"
        raise ConfigError(describe_validation_error(exc, prefix=prefix, origin=origin, limit=None)) from None


class CappedAdapter:
    """An adapter whose requests give at most `max_units` changes: the documented cap held for every
    kind, whichever way its module counts (a kind bounds its own work before this; this is the net)."""

    def __init__(self, adapter: Adapter, max_units: int) -> None:
        self.adapter, self.max_units = adapter, max_units

    def normalise(self, payload: Any, context: AdapterContext) -> list[UnitChange]:
        changes = self.adapter.normalise(payload, context)
        if len(changes) > self.max_units:
            raise InvalidPayloadError(
                f"body: {len(changes)} unit changes, at most {self.max_units} per request (max_units)"
            )
        return changes


def build_adapter(name: str, source: SourceConfig) -> tuple[Adapter, AdapterKind]:
    options = validate_adapter_options(name, source.adapter, source.options, "relay.toml")
    kind = adapter_kind(source.adapter)
    max_units = getattr(options, "max_units", None)
    adapter = kind.build(options)
    return (CappedAdapter(adapter, max_units) if isinstance(max_units, int) else adapter), kind


def stateful_sources(config: RelayConfig) -> list[str]:
    """The sources whose adapter keeps state in the source-state store."""
    return sorted(name for name, s in config.sources.items() if adapter_kind(s.adapter).needs_state)


def check_config(config: RelayConfig, origin: str = "relay.toml") -> RelayConfig:
    """Every source's options against its kind, and the references between sections."""
    for name, source in config.sources.items():
        validate_adapter_options(name, source.adapter, source.options, origin)
        server = source.options.get("server") if source.adapter == "erlc-events" else None
        if isinstance(server, str) and server not in config.erlc.servers:
            raise ConfigError(
                f"{origin}: sources.{name}.options.server: no [erlc.servers.{server}] in this file"
            )
    return config


def parse_config(data: dict[str, Any], origin: str = "relay.toml") -> RelayConfig:
    return check_config(parse_schema(data, origin), origin)


def load_config(path: str | Path) -> RelayConfig:
    """relay.toml read, its schema validated and checked against the adapters: the one loader."""
    return parse_config(read_toml(path), origin=str(path))


def normalise(adapter: Adapter, payload: dict[str, Any], context: AdapterContext) -> list[UnitChange]:
    """The adapter's changes; a model that refused the payload's values is the payload's fault (422)."""
    try:
        return adapter.normalise(payload, context)
    except ValidationError as exc:
        raise InvalidPayloadError(describe_validation_error(exc)) from None
