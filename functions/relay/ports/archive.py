"""The archive: what the ingress kept of each webhook, for `relay inspect` and `relay replay`.

One record per delivery: the queue messages it became (as queued), and, for a source that opts in
(`archive_body`), the body as received with its secrets removed and the headers its signature scheme
reads. A refused delivery of such a source is kept too (its body, its headers, and for schemes whose
secret travels with the request, a digest of what was presented instead of the secret itself), so
that once the key is fixed it can be verified again and taken (relay_devtools.recovery).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

ArchiveOutcome = Literal["accepted", "refused"]


@dataclass(frozen=True)
class ArchivedDelivery:
    source: str
    received_at: datetime
    outcome: ArchiveOutcome
    # The delivery's id as the trail names it; a refused delivery has none that can be trusted.
    webhook_id: str | None = None
    # API Gateway's id of the request (names a refused delivery).
    request_id: str | None = None
    # The queue messages' bodies, as they were queued (ASCII JSON).
    messages: tuple[str, ...] = ()
    label: str | None = None
    # Why it was refused (the log-only reason: `mismatch: ...`).
    reason: str | None = None
    # The body as received, its secrets removed (sources with `archive_body`); None: not kept.
    body: bytes | None = None
    # The headers the source's signature scheme reads (with the body), names lower-cased.
    headers: Mapping[str, str] = field(default_factory=dict)
    # body-key and url-token: `sha256:<hex>` of the secret the request presented (never the secret).
    secret_digest: str | None = None

    @property
    def lookup_id(self) -> str | None:
        """What `relay inspect` finds it by: its webhook id, else `request:<API Gateway's request id>`
        (the trail's name for a delivery without one, a refused one's included)."""
        return self.webhook_id or (f"request:{self.request_id}" if self.request_id else None)

    @property
    def name(self) -> str:
        """The record's name within its source: time first, so a source's records sort by time."""
        ms = self.received_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return f"{ms}#{self.webhook_id or f'refused:{self.request_id or ms}'}"


class ArchiveWriter(Protocol):
    """Where the ingress keeps what it accepted (and, opted in, refused)."""

    def keep(self, delivery: ArchivedDelivery, days: int) -> None:
        """Keep the record for `days` days, or raise ArchiveUnavailableError."""
        ...


class ArchiveReader(Protocol):
    """What the operator's commands read back."""

    def window(self, source: str, since: datetime, until: datetime) -> list[ArchivedDelivery]:
        """A source's records received within [since, until], oldest first."""
        ...

    def find(self, webhook_id: str) -> list[ArchivedDelivery]:
        """Every record of deliveries with this id (any source; `request:<id>` for one without a webhook
        id, a refused one's included), oldest first."""
        ...
