"""What happens on a game night, as plain data: the plan the scenario writes (times are seconds from
the start) and the record the driver keeps of what it did (times are the wall clock's epoch seconds).
The same types serve both: the driver replaces each `at` with the moment it acted and fills in the
answers. The model and the measures read only these records."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

GameKind = Literal["join", "leave", "team", "callsign"]
CadKind = Literal["login", "status", "logout"]
SendKind = Literal["first", "resend", "resigned"]
OutageKind = Literal["rate-limit", "offline"]


@dataclass(frozen=True)
class GameChange:
    """The game's player list changed: after it, this player is on `team` with `callsign` (team None:
    they left the server)."""

    at: float
    user_id: str
    name: str
    team: str | None
    callsign: str | None
    kind: GameKind


@dataclass(frozen=True)
class Delivery:
    """One POST of a typed line's event webhook: the first, the same bytes again (PRC retrying), or
    the same event signed again later. `status` is the relay's answer (0: none)."""

    at: float
    kind: SendKind = "first"
    status: int | None = None


@dataclass(frozen=True)
class Typed:
    """A player typed a `;` line at `at` (whole seconds: the event's own Timestamp)."""

    at: float
    user_id: str
    name: str
    text: str
    sends: tuple[Delivery, ...] = ()


@dataclass(frozen=True)
class CadEvent:
    """A Sonoran push event. Sonoran's events carry no time: the relay dates them on receipt, so `at`
    is when it was sent."""

    at: float
    kind: CadKind
    ident: int
    unit_num: str | None = None
    name: str | None = None
    department: str | None = None
    rank: str | None = None
    code: int | None = None
    status: int | None = None


@dataclass(frozen=True)
class Edit:
    """A dispatcher's edit in Northca's UI of the unit `unit` (canonical). `unit_id` is the id the MDT
    spelled it with, `applied` whether the unit was there to edit; `at` the partner's updated_at."""

    at: float
    unit: str
    fields: dict[str, str]
    unit_id: str | None = None
    applied: bool | None = None


@dataclass(frozen=True)
class PartnerFault:
    """A fault the Northca emulator injects from `at` on (its `POST /_emulator/faults` rule)."""

    at: float
    spec: dict[str, Any]


@dataclass(frozen=True)
class Outage:
    """The ER:LC API answers badly once: not a change in the game. `how` says how it was made."""

    at: float
    kind: OutageKind
    how: str = ""


Record = GameChange | Typed | CadEvent | Edit | PartnerFault | Outage
KINDS: dict[str, type[Record]] = {
    kind.__name__: kind for kind in (GameChange, Typed, CadEvent, Edit, PartnerFault, Outage)
}


def to_json(records: Iterable[Record]) -> list[dict[str, Any]]:
    return [{"type": type(r).__name__, **dataclasses.asdict(r)} for r in records]


def from_json(items: Iterable[Mapping[str, Any]]) -> list[Record]:
    """The records `to_json` wrote (a saved evening, measured again)."""
    records: list[Record] = []
    for item in items:
        fields = {k: v for k, v in item.items() if k != "type"}
        kind = KINDS[str(item["type"])]
        if kind is Typed:
            fields["sends"] = tuple(Delivery(**send) for send in fields.get("sends", ()))
        records.append(kind(**fields))
    return records


@dataclass
class Evening:
    """A whole evening: the records in time order, and the parameters that made it."""

    records: list[Record]
    seed: int
    poll_seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    def of[T](self, kind: type[T]) -> list[T]:
        return [r for r in self.records if isinstance(r, kind)]
