"""The adapter kinds: a sender's one registry line each.

A kind's module is imported the first time a source uses it, so a function whose config names one
adapter does not pay for the others at cold start. What relay.toml says of a source is checked against
its kind by relay.config.loader.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from relay.errors import InvalidPayloadError, describe_validation_error
from relay.sources import Adapter, AdapterContext, AdapterKind, Signal

# adapter name -> (module, attribute) of its AdapterKind
KINDS: dict[str, tuple[str, str]] = {
    "units": ("relay.sources.units", "KIND"),
    "mapping": ("relay.sources.mapping", "KIND"),
    "erlc-events": ("relay.erlc.events", "KIND"),
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


class CappedAdapter:
    """An adapter whose requests give at most `max_units` changes: the documented cap held for every
    kind, whichever way its module counts (a kind bounds its own work before this; this is the net)."""

    def __init__(self, adapter: Adapter, max_units: int) -> None:
        self.adapter, self.max_units = adapter, max_units

    def normalise(self, payload: Any, context: AdapterContext) -> Sequence[Signal]:
        signals = self.adapter.normalise(payload, context)
        if len(signals) > self.max_units:
            raise InvalidPayloadError(
                f"body: {len(signals)} unit changes, at most {self.max_units} per request (max_units)"
            )
        return signals


def normalise(adapter: Adapter, payload: dict[str, Any], context: AdapterContext) -> list[Signal]:
    """The adapter's signals; a model that refused the payload's values is the payload's fault (422)."""
    try:
        return list(adapter.normalise(payload, context))
    except ValidationError as exc:
        raise InvalidPayloadError(describe_validation_error(exc)) from None
