"""Where an alarm notification goes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Webhook(Protocol):
    """An alarm notification's destination (relay.alerts.webhook: a Discord webhook)."""

    def post(self, payload: Mapping[str, Any]) -> None: ...
