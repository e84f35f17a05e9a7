"""The model of what a dispatcher should see: the game's truth, built from the evening's records alone.

Pure: no clock, no HTTP. Every record is taken at its own time (a command at the second the player
typed it, a join when the player joined, a Sonoran event when it was sent, an edit at the partner's
updated_at), in that order, whatever order the relay heard them in. The rules, one by one:

- One officer is one unit whatever the case or spacing of the callsign (`rules.canonical_id`).
- A player on an on-duty team with a callsign is on duty from the moment they join; a unit that comes
  on duty shows the on-duty status (10-8). A join does not overwrite the status of a unit another
  source (the CAD) already has on duty.
- A player's own command is a status change at the second they typed it, every time (a command is an
  event, not a report): their latest command is their status, over the join's default and over an
  older dispatcher edit. A command reads as the player meant it (`rules.read_command`).
- A unit goes off duty (10-7) when the last source that had it on duty lets it go: a player who is in
  game stays on duty when the CAD logs them out, and the other way round.
- A callsign change is a new unit: the old one goes off duty, the new one comes on duty.
- The CAD's name, department and rank stand over the game's display name and team, whichever came
  first; the game's stand while the CAD has not said them.
- Saying again is not changing: a source that repeats what it last said of a field (a rejoin, a
  re-login) changes nothing, so a dispatcher's edit made since stands.
- A dispatcher's edit stands until a later real change of that field.
- An ER:LC API that answers badly (429, "server offline") and a partner that fails change nothing in
  the game: a blip is not everyone leaving.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from relay_devtools.gamenight import rules
from relay_devtools.gamenight.records import CadEvent, Edit, GameChange, Record, Typed

Path = Literal["command", "join", "cad"]
GAME, CAD = "game", "cad"


@dataclass(frozen=True)
class Point:
    at: float
    value: str
    cause: str


@dataclass
class Expectation:
    """What one stimulus should put on the MDT: `wants` (field -> value), or, for a join (wants
    None), the unit on duty. It stands in the model from `model_at` until `until`."""

    path: Path
    unit: str
    sent_at: float
    model_at: float
    wants: dict[str, str] | None
    label: str
    until: float = math.inf


@dataclass(frozen=True)
class EditCheck:
    unit: str
    unit_id: str
    field: str
    value: str
    at: float
    until: float


@dataclass
class UnitModel:
    fields: dict[str, list[Point]] = field(default_factory=dict)
    said: dict[tuple[str, str], str] = field(default_factory=dict)
    on_duty_by: set[str] = field(default_factory=set)

    def value(self, name: str) -> str | None:
        points = self.fields.get(name)
        return points[-1].value if points else None

    def value_at(self, name: str, at: float) -> str | None:
        found = None
        for point in self.fields.get(name, []):
            if point.at > at:
                break
            found = point.value
        return found

    def next_other(self, name: str, at: float, value: str) -> float:
        """When the model next holds another value than `value` for this field after `at`."""
        for point in self.fields.get(name, []):
            if point.at > at and point.value != value:
                return point.at
        return math.inf


@dataclass
class Model:
    units: dict[str, UnitModel]
    expectations: list[Expectation]
    edits: list[EditCheck]
    ignored_commands: int

    def final(self) -> dict[str, dict[str, str]]:
        return {
            unit_id: {name: value for name in rules.FIELDS if (value := unit.value(name)) is not None}
            for unit_id, unit in self.units.items()
        }

    def on_duty_throughout(self, unit_id: str, start: float, end: float) -> bool:
        """The model has the unit on duty at every moment of [start, end]."""
        unit = self.units.get(unit_id)
        if unit is None:
            return False
        first = unit.value_at("status", start)
        if first is None or first in rules.OFF_DUTY_STATUSES:
            return False
        return all(
            p.value not in rules.OFF_DUTY_STATUSES
            for p in unit.fields.get("status", [])
            if start < p.at <= end
        )


@dataclass
class _Player:
    name: str
    team: str
    callsign: str | None

    @property
    def unit(self) -> str | None:
        if rules.department_of(self.team) is None or not self.callsign:
            return None
        return rules.canonical_id(self.callsign)


class _Builder:
    def __init__(self) -> None:
        self.units: dict[str, UnitModel] = {}
        self.players: dict[str, _Player] = {}
        self.cad_units: dict[int, str] = {}
        self.expectations: list[Expectation] = []
        self.edits: list[tuple[str, str, str, str, float]] = []
        self.ignored_commands = 0
        self._changed: dict[tuple[str, str], str] = {}

    def unit(self, unit_id: str) -> UnitModel:
        return self.units.setdefault(unit_id, UnitModel())

    def set(self, unit_id: str, name: str, value: str, at: float, cause: str) -> None:
        self.unit(unit_id).fields.setdefault(name, []).append(Point(at, value, cause))
        self._changed[(unit_id, name)] = value

    def say(self, unit_id: str, source: str, name: str, value: str | None, at: float, cause: str) -> None:
        """A source reports a field: a change only when it differs from what the source said last,
        and, for the fields the CAD owns, only when the CAD has not said them (the game)."""
        if value is None:
            return
        unit = self.unit(unit_id)
        before = unit.said.get((source, name))
        unit.said[(source, name)] = value
        if source == GAME and name in rules.CAD_OWNED and (CAD, name) in unit.said:
            return
        if before != value:
            self.set(unit_id, name, value, at, cause)

    def on_duty(self, unit_id: str, source: str) -> bool:
        """`source` has the unit on duty; True when the unit was off duty before (it comes on)."""
        unit = self.unit(unit_id)
        came_on = not unit.on_duty_by
        unit.on_duty_by.add(source)
        return came_on

    def off_duty(self, unit_id: str, source: str, status: str, at: float, cause: str) -> None:
        unit = self.unit(unit_id)
        unit.on_duty_by.discard(source)
        unit.said[(source, "status")] = status
        if not unit.on_duty_by:
            self.set(unit_id, "status", status, at, cause)

    # ------------------------------------------------------------ records

    def apply(self, record: Record) -> None:
        self._changed = {}
        if isinstance(record, GameChange):
            self.game(record)
        elif isinstance(record, Typed):
            self.typed(record)
        elif isinstance(record, CadEvent):
            self.cad(record)
        elif isinstance(record, Edit):
            self.edit(record)

    def game(self, change: GameChange) -> None:
        before = self.players.pop(change.user_id, None)
        after = None if change.team is None else _Player(change.name, change.team, change.callsign)
        if after is not None:
            self.players[change.user_id] = after
        old_unit = before.unit if before else None
        new_unit = after.unit if after else None
        cause = f"game {change.kind} {change.name}"
        if old_unit and old_unit != new_unit:
            self.off_duty(old_unit, GAME, rules.OFF_DUTY, change.at, cause)
        if after is None or new_unit is None:
            return
        self.say(new_unit, GAME, "officer_name", after.name, change.at, cause)
        self.say(new_unit, GAME, "department", rules.department_of(after.team), change.at, cause)
        if old_unit != new_unit:
            self.unit(new_unit).said[(GAME, "status")] = rules.ON_DUTY
            if self.on_duty(new_unit, GAME):
                self.set(new_unit, "status", rules.ON_DUTY, change.at, cause)
            self.expectations.append(
                Expectation("join", new_unit, change.at, change.at, None, f"{change.name} {change.kind}s")
            )

    def typed(self, typed: Typed) -> None:
        player = self.players.get(typed.user_id)
        unit_id = player.unit if player else None
        status = rules.read_command(typed.text)
        if unit_id is None or status is None:
            self.ignored_commands += 1
            return
        self.set(unit_id, "status", status, typed.at, f"command {typed.text!r} by {typed.name}")
        sent = min((d.at for d in typed.sends), default=typed.at)
        label = f"{typed.name}: {typed.text}"
        self.expectations.append(Expectation("command", unit_id, sent, typed.at, {"status": status}, label))

    def cad(self, event: CadEvent) -> None:
        cause = f"cad {event.kind} {event.ident}"
        if event.kind == "login" and event.unit_num:
            unit_id = self.cad_units[event.ident] = rules.canonical_id(event.unit_num)
            self.on_duty(unit_id, CAD)
            for name, value in (
                ("officer_name", event.name),
                ("department", event.department),
                ("rank", event.rank),
            ):
                self.say(unit_id, CAD, name, value, event.at, cause)
        else:
            found = self.cad_units.get(event.ident)
            if found is None:
                return
            unit_id = found
        if event.kind == "logout":
            del self.cad_units[event.ident]
            self.off_duty(unit_id, CAD, rules.SONORAN_LOGOUT, event.at, cause)
        elif event.code is not None:
            self.say(unit_id, CAD, "status", rules.sonoran_status(event.code), event.at, cause)
        wants = {
            name: value for (changed_unit, name), value in self._changed.items() if changed_unit == unit_id
        }
        if wants:
            self.expectations.append(Expectation("cad", unit_id, event.at, event.at, wants, cause))

    def edit(self, edit: Edit) -> None:
        if not edit.applied or edit.unit_id is None:
            return
        for name, value in edit.fields.items():
            self.set(edit.unit, name, value, edit.at, f"dispatcher edit of {edit.unit_id}")
            self.edits.append((edit.unit, edit.unit_id, name, value, edit.at))


def build_model(records: Iterable[Record]) -> Model:
    builder = _Builder()
    for record in sorted(records, key=lambda r: r.at):
        builder.apply(record)
    units = builder.units
    for expectation in builder.expectations:
        unit = units[expectation.unit]
        if expectation.wants is None:
            expectation.until = _off_after(unit, expectation.model_at)
        else:
            expectation.until = min(
                unit.next_other(name, expectation.model_at, value)
                for name, value in expectation.wants.items()
            )
    edits = [
        EditCheck(unit_id, spelled, name, value, at, units[unit_id].next_other(name, at, value))
        for unit_id, spelled, name, value, at in builder.edits
    ]
    return Model(units, builder.expectations, edits, builder.ignored_commands)


def _off_after(unit: UnitModel, at: float) -> float:
    for point in unit.fields.get("status", []):
        if point.at > at and point.value in rules.OFF_DUTY_STATUSES:
            return point.at
    return math.inf
