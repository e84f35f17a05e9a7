"""How the consumer reconciles one unit that several sources speak of: which ids are the same unit,
whose value wins a field, what a source saying again what it said before means, and when a unit is
off duty. Pure data and rules, built once per container from relay.toml (handlers/wiring.py);
docs/consumer.md, "Several sources, one unit", says each rule as an admin reads it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NamedTuple

from relay.config.schema import RelayConfig, UnitRules

# The fields whose owner is, by default, the most trusted kind of sender (a CAD over the game).
PROFILE_FIELDS = frozenset({"officer_name", "officer_badge", "department", "rank"})
# A source the configuration does not name (one removed since, a redrive of old messages).
UNKNOWN = (1, False)


class SourceKind(NamedTuple):
    """What the consumer knows of a source: its default rank for profile fields, whether it reports
    state (saying a value again is not a change) or events (every command counts), and the voice it
    speaks with about duty: sources of one voice are one opinion (the game's roster and its players'
    commands), the newest of them being what that voice says."""

    profile_rank: int
    reports_state: bool
    voice: str | None = None


def canonical_id(unit_id: str, ids: str = "case-insensitive") -> str:
    """The key a unit id is compared by. "case-insensitive": NFC, blanks collapsed, upper case (an id
    already so, "ADAM-12", is its own key); "exact": the id as the partner keys it (trimmed)."""
    if ids == "exact":
        return unit_id.strip()
    if unit_id.isascii():
        return " ".join(unit_id.split()).upper()
    return " ".join(unicodedata.normalize("NFC", unit_id).split()).upper()


@dataclass(frozen=True)
class UnitPolicy:
    """The rules for every MDT (`default`), per-MDT overrides, and what each source is."""

    default: UnitRules = field(default_factory=UnitRules)
    per_mdt: Mapping[str, UnitRules] = field(default_factory=dict)
    sources: Mapping[str, SourceKind] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: RelayConfig, kinds: Mapping[str, SourceKind] | None = None) -> UnitPolicy:
        """`kinds`: each configured source's kind by name; by default from its adapter's SenderFacts."""
        sources = dict(kinds) if kinds is not None else source_kinds(config)
        for server in config.erlc.servers:
            # The roster poller's messages: the game's state, as the game reports it.
            sources[f"erlc:{server}"] = SourceKind(profile_rank=0, reports_state=True, voice=f"erlc:{server}")
        return cls(config.units, {m: c.units for m, c in config.mdts.items()}, sources)

    def rules(self, mdt_id: str) -> UnitRules:
        return self.per_mdt.get(mdt_id, self.default)

    def canonical(self, mdt_id: str, unit_id: str) -> str:
        return canonical_id(unit_id, self.rules(mdt_id).ids)

    def rank(self, mdt_id: str, source: str, name: str) -> int:
        """How far `source`'s value of field `name` wins over another source's (higher wins)."""
        owners: list[str] | None = self.rules(mdt_id).owners.get(name)  # type: ignore[call-overload]
        if owners is not None and source in owners:
            # Listed owners come before every kind's default rank, best first.
            return 100 + len(owners) - owners.index(source)
        if name not in PROFILE_FIELDS:
            return 0
        return self.sources.get(source, SourceKind(*UNKNOWN)).profile_rank

    def voice(self, source: str) -> str:
        """Who a source speaks for about duty: its voice, else itself."""
        kind = self.sources.get(source)
        return kind.voice if kind is not None and kind.voice else source

    def reports_state(self, source: str) -> bool:
        return self.sources.get(source, SourceKind(*UNKNOWN)).reports_state

    def off_duty(self, mdt_id: str, status: str | None) -> bool:
        return status is not None and status in self.rules(mdt_id).off_duty_statuses

    def duty_memory(self, mdt_id: str) -> timedelta:
        return timedelta(hours=self.rules(mdt_id).duty_memory_hours)


def source_kinds(config: RelayConfig) -> dict[str, SourceKind]:
    """Each configured source's kind, from its adapter's SenderFacts (relay.sources.registry). Players'
    commands (`erlc-events`) speak with their server's voice, the roster's (`erlc:<server>`)."""
    from relay.sources.registry import adapter_kind

    kinds = {}
    for name, source in config.sources.items():
        sender = adapter_kind(source.adapter).sender
        server = source.options.get("server") if source.adapter == "erlc-events" else None
        voice = f"erlc:{server}" if isinstance(server, str) else None
        kinds[name] = SourceKind(sender.profile_rank, sender.reports_state, voice)
    return kinds
