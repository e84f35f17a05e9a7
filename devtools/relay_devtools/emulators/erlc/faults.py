"""Faults a test asks the ER:LC emulator to inject: the next requests get another answer, or none."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ErlcFault:
    """The next `times` API requests get this answer instead (drop = close without answering)."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    times: int = 1
