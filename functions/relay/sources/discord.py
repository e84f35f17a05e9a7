"""The `discord` preset: Discord-format webhooks (unsigned: use a `url-token`).

Senders that post "as if to a Discord webhook" describe a unit in an embed, one field per value:
`{"embeds": [{"title": "Unit status", "fields": [{"name": "Callsign", "value": "A-12"}, ...]}]}`.
Every embed with a Callsign field is one unit; Markdown emphasis in values is dropped. A message
with no embed (Discord accepts `content` alone) describes no unit: acknowledged, no change.
"""

from __future__ import annotations

from typing import Any

from relay.errors import InvalidPayloadError
from relay.models import UnitChange
from relay.sources import AdapterContext, AdapterKind, SenderFacts
from relay.sources.labelled import DiscordOptions, build_discord
from relay.sources.mapping import MappingAdapter


class DiscordAdapter:
    def __init__(self, options: DiscordOptions) -> None:
        self.mapping: MappingAdapter = build_discord(options)

    def normalise(self, payload: Any, context: AdapterContext) -> list[UnitChange]:
        embeds = payload.get("embeds")
        if embeds is None:
            return []  # content (or a file, a poll) without an embed: a message about no unit
        if not isinstance(embeds, list) or not all(isinstance(e, dict) for e in embeds):
            raise InvalidPayloadError("embeds: expected a list of embed objects")
        for index, embed in enumerate(embeds):
            fields = embed.get("fields", [])
            if not isinstance(fields, list) or not all(isinstance(f, dict) for f in fields):
                raise InvalidPayloadError(f"embeds[{index}].fields: expected a list of {{name, value}}")
        return self.mapping.units_of(payload, context)


KIND = AdapterKind(
    options_model=DiscordOptions,
    build=DiscordAdapter,
    sender=SenderFacts(
        docs="docs/sources/discord.md",
        samples=("discord_embed.json",),
        example_source="discord",
        signature={"scheme": "url-token"},
    ),
)
