"""The consumer's view of its own queue: visibility, and the dead-letter queue. (Sending messages is
relay.messages.Publisher, beside the message it sends.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


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
