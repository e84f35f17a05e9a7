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
    """What the consumer knows of a source: its default rank for profile fields, and whether it
    reports state (saying a value again is not a change) or events (every command counts)."""

    profile_rank: int
    reports_state: bool


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
    def from_config(cls, config: RelayConfig, kinds: Mapping[str, SourceKind]) -> UnitPolicy:
        """`kinds`: each configured source's kind (from its adapter's SenderFacts), by source name."""
        sources = dict(kinds)
        for server in config.erlc.servers:
            # The roster poller's messages: the game's state, as the game reports it.
            sources[f"erlc:{server}"] = SourceKind(profile_rank=0, reports_state=True)
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

    def reports_state(self, source: str) -> bool:
        return self.sources.get(source, SourceKind(*UNKNOWN)).reports_state

    def off_duty(self, mdt_id: str, status: str | None) -> bool:
        return status is not None and status in self.rules(mdt_id).off_duty_statuses

    def duty_memory(self, mdt_id: str) -> timedelta:
        return timedelta(hours=self.rules(mdt_id).duty_memory_hours)
