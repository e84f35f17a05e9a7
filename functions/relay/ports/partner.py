"""The partner's active units, calls and panics (relay.northca reads and writes Northca's wire format; the
consumer sees only these types)."""

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


# ------------------------------------------------------------------------------ calls and panics
# Northca's dispatch calls and panics (docs/emergencies.md says what is documented and what assumed).

# A call field's value as the partner holds it: text, or the unit ids of `units_assigned`.
CallValue = str | tuple[str, ...]


class CallRecord(NamedTuple):
    """A call as the partner answers it (to a create or a PATCH): its id, its writable fields (those the
    answer holds, read so that an odd value never reads as a blank) and the time it was last written,
    when the partner gives one that can be read."""

    call_id: str
    fields: Mapping[str, CallValue]
    updated_at: datetime | None


@dataclass(frozen=True)
class NewCall:
    """A call as a create carries it: the id the relay chose, the fields, and who created it."""

    call_id: str
    fields: Mapping[str, CallValue]
    created_by: str | None = None


@dataclass(frozen=True)
class PanicAnswer:
    """What a 2xx answer to a panic says: the unit it names (when it names one) and when."""

    unit_id: str | None
    at: datetime | None


class EmergencyWriter(Protocol):
    """The partner's calls and panics of one MDT in one guild: each call one attempt, a typed error else."""

    def create_call(
        self, mdt_id: str, guild_id: str, call: NewCall, actor: str | None = None
    ) -> CallRecord | None:
        """POST the call; its record as answered (None when the 2xx answer holds none that can be read)."""
        ...

    def update_call(
        self,
        mdt_id: str,
        guild_id: str,
        call_id: str,
        fields: Mapping[str, CallValue],
        actor: str | None = None,
    ) -> CallRecord | None:
        """PATCH these fields of the call (none: a read, which applies nothing); its record as answered."""
        ...

    def trigger_panic(
        self, mdt_id: str, guild_id: str, unit_id: str, address: str | None, actor: str | None = None
    ) -> PanicAnswer:
        """POST the unit's panic."""
        ...
