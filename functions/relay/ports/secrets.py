"""Secrets by name."""

from __future__ import annotations

from typing import Protocol


class SecretsSource(Protocol):
    """Secrets by name, as rotation lists (oldest first, newest last; relay.models.parse_secret_value)."""

    def get(self, name: str, *, force_fetch: bool = False) -> list[str]: ...
