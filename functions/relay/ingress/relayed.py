"""The signals an adapter relays besides its request's own (DeliveryNotes.relay): each batch queued as its
own source's and delivery's messages (the ingress, and `relay map`'s dry run)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from relay.config.schema import SourceConfig
from relay.messages import QueueMessage, emergency_messages, queue_messages
from relay.sources import DeliveryNotes


def relayed_messages(
    notes: DeliveryNotes, name: str, source: SourceConfig, webhook_id: str | None, received_at: datetime
) -> tuple[list[QueueMessage], list[QueueMessage]]:
    """The signals the adapter relays, each batch as its own source's and delivery's messages: (those
    for the emergency queue, the unit changes)."""
    urgent: list[QueueMessage] = []
    messages: list[QueueMessage] = []
    for batch in notes.relayed:
        where = batch.destination
        envelope: dict[str, Any] = {
            "source": batch.source or name,
            "mdt_id": where.mdt_id if where else source.mdt_id,
            "guild_id": where.guild_id if where else source.guild_id,
            "actor": where.actor if where else source.actor,
            "webhook_id": batch.webhook_id or webhook_id,
            "received_at": batch.received_at or received_at,
        }
        urgent += emergency_messages(**envelope, calls=batch.calls, panics=batch.panics)
        messages += queue_messages(**envelope, changes=batch.changes)
    return urgent, messages
