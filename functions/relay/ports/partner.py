"""The partner's active units (relay.northca reads and writes Northca's wire format; the consumer sees
only these types)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol


class PartnerUnit(NamedTuple):
    """One unit as the partner's list endpoint gives it: its writable fields ("" when unset) and the
    time it was last written, when the partner gives one that can be read."""

    fields: Mapping[str, str]
    updated_at: datetime | None


class UnitRecord(NamedTuple):
    """A unit as an upsert carries it: its id and every field sent ("" is the partner's unset)."""

    unit_id: str
    fields: Mapping[str, str]


@dataclass(frozen=True)
class UpsertAnswer:
    """What a 2xx answer to an upsert confirms: the ids it lists. Only those are known to be written."""

    confirmed: frozenset[str]


class UnitWriter(Protocol):
    """The partner's active units of one MDT in one guild."""

    def upsert_units(
        self, mdt_id: str, guild_id: str, units: Sequence[UnitRecord], actor: str | None = None
    ) -> UpsertAnswer: ...

    def list_units(self, mdt_id: str, guild_id: str) -> dict[str, PartnerUnit]:
        """The MDT's active units by id."""
        ...
