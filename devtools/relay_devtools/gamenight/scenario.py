"""The evening's plan, from a seed: who joins and leaves when, what they type, what the CAD and the
dispatcher do, and when the partner and the ER:LC API fail. Times are seconds from the start.

Reproducible: one seed, one plan. The plan keeps away from moments the model could not judge fairly
(`_Planner.editable`, `_Planner.command`): a dispatcher's edit is never within seconds of another
change of the same unit, nor after a game change of it that the relay cannot have seen yet (the
roster is polled); one player's commands are seconds apart (the game stamps them in whole seconds)."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

from relay_devtools.gamenight import rules
from relay_devtools.gamenight.mix import (
    AFTER_JOIN,
    CAD_NAMES,
    CAD_RANKS,
    EDIT_VALUES,
    NOT_STATUS,
    ODD,
    OFFLINE_AT,
    PLAIN,
    RATE_LIMIT_AT,
    SURNAMES,
    TEAM_CALLSIGNS,
    Size,
)
from relay_devtools.gamenight.records import (
    CadEvent,
    Delivery,
    Edit,
    GameChange,
    Outage,
    PartnerFault,
    Record,
    Typed,
)


@dataclass
class _Life:
    user_id: str
    name: str
    team: str
    callsign: str | None
    changes: list[GameChange] = field(default_factory=list)

    def state_at(self, at: float) -> GameChange | None:
        found = None
        for change in self.changes:
            if change.at > at:
                break
            found = change
        return found if found is not None and found.team is not None else None

    def change(self, at: float, kind: str, team: str | None, callsign: str | None) -> GameChange:
        made = GameChange(at, self.user_id, self.name, team, callsign, kind)  # type: ignore[arg-type]
        self.changes.append(made)
        self.changes.sort(key=lambda c: c.at)
        return made

    @property
    def joined(self) -> float:
        return self.changes[0].at


class _Planner:
    def __init__(self, size: Size, seed: int) -> None:
        self.size, self.rng = size, random.Random(seed)  # noqa: S311 - a reproducible evening, not a secret
        self.lives: list[_Life] = []
        self.records: list[Record] = []
        # When each unit (canonical id) last changed, per kind: guards the edits and the commands.
        self.touched: dict[str, list[tuple[float, str]]] = {}
        self.cad_units: set[str] = set()
        self.serial: dict[str, int] = {}

    @property
    def poll(self) -> float:
        return self.size.poll_seconds

    def callsign(self, team: str) -> str:
        prefix = TEAM_CALLSIGNS[team]
        self.serial[prefix] = self.serial.get(prefix, 0) + 1
        return f"{prefix}-{self.serial[prefix]:02d}"

    def touch(self, callsign: str | None, at: float, kind: str) -> None:
        if callsign:
            self.touched.setdefault(rules.canonical_id(callsign), []).append((at, kind))

    def game(self, life: _Life, at: float, kind: str, team: str | None, callsign: str | None) -> None:
        before = life.state_at(at - 1e-6)
        self.records.append(life.change(at, kind, team, callsign))
        self.touch(before.callsign if before else None, at, "game")
        self.touch(callsign if team in rules.DEPARTMENTS else None, at, "game")

    # ------------------------------------------------------------ players

    def players(self) -> None:
        s, rng = self.size, self.rng
        civilians = round(s.players * s.civilians)
        present = round(s.players * s.present_at_start)
        teams = ["Police"] * 6 + ["Sheriff"] * 3 + ["Fire", "DOT"]
        for index in range(s.players):
            team = "Civilian" if index >= s.players - civilians else rng.choice(teams)
            name = f"{SURNAMES[index % len(SURNAMES)]}_{rng.randint(10, 99)}"
            life = _Life(str(1_000_000_000 + index * 7919), name, team, None)
            life.callsign = self.callsign(team) if team in TEAM_CALLSIGNS else None
            at = 0.0 if index < present else round(rng.uniform(5, 0.6 * s.duration), 1)
            self.game(life, at, "join", team, life.callsign)
            self.lives.append(life)

    def on_duty(self) -> list[_Life]:
        return [life for life in self.lives if life.team in rules.DEPARTMENTS]

    def movers(self) -> list[_Life]:
        """On-duty players free for a leave, a team or a callsign change (not the CAD's officers)."""
        taken = {rules.canonical_id(c) for c in self.cad_units}
        return [
            life
            for life in self.on_duty()
            if len(life.changes) == 1 and rules.canonical_id(life.callsign or "") not in taken
        ]

    def blind(self) -> list[tuple[float, float]]:
        """When the relay's polls may see nothing new: the ER:LC 429 (spent just before a poll, a
        bucket empty up to a minute) and the poll after the offline answer."""
        if not self.size.erlc_outages:
            return []
        limit, offline = RATE_LIMIT_AT * self.size.duration, OFFLINE_AT * self.size.duration
        return [(limit - 5, limit + self.poll + 65), (offline - 5, offline + self.poll + 5)]

    def seen(self, start: float, end: float, stretch: float | None = None) -> bool:
        """Whether [start, end] holds a stretch (default: a poll period and 10 s) outside `blind`: the
        relay has surely polled in it (an absence: twice, as a relay that wants two polls in a row
        without a player before it sends them off duty)."""
        stretch = self.poll + 10 if stretch is None else stretch
        edges = sorted({start, end, *(t for w in self.blind() for t in w if start < t < end)})
        return any(
            b - a >= stretch and not any(w0 < (a + b) / 2 < w1 for w0, w1 in self.blind())
            for a, b in itertools.pairwise(edges)
        )

    def moment(self, life: _Life, latest: float) -> float | None:
        """A moment for a player's change that the relay's polls surely see them before."""
        for _ in range(50):
            at = round(self.rng.uniform(life.joined + self.poll + 10, latest), 1)
            if at > life.joined and self.seen(life.joined, at):
                return at
        return None

    def comeback(self, life: _Life) -> tuple[float, float] | None:
        """A leave and a return, each surely seen by the relay's polls, or None."""
        for _ in range(30):
            leave = self.moment(life, 0.6 * self.size.duration)
            if leave is None:
                return None
            back = round(leave + 2 * self.poll + 20 + self.rng.uniform(0, 30), 1)
            while back < 0.92 * self.size.duration and not self.seen(leave, back, 2 * self.poll + 20):
                back += 5
            if back < 0.92 * self.size.duration:
                return leave, back
        return None

    def leaves(self) -> None:
        """Some players leave; some of them come back."""
        s = self.size
        candidates = [life for life in self.movers() if life.joined <= 0.4 * s.duration]
        self.rng.shuffle(candidates)
        left = comebacks = 0
        for life in candidates:
            if left >= s.leaves:
                break
            planned = self.comeback(life) if comebacks < s.rejoins else None
            if planned is not None:
                self.game(life, planned[0], "leave", None, None)
                self.game(life, planned[1], "join", life.team, life.callsign)
                left, comebacks = left + 1, comebacks + 1
            elif (leave := self.moment(life, 0.6 * s.duration)) is not None:
                self.game(life, leave, "leave", None, None)
                left += 1

    def moves(self) -> None:
        s, rng = self.size, self.rng
        candidates = self.movers()
        rng.shuffle(candidates)
        teams = callsigns = 0
        for life in candidates:
            at = self.moment(life, 0.8 * s.duration)
            if at is not None and teams < s.team_changes:
                self.game(life, at, "team", "Sheriff" if life.team == "Police" else "Police", life.callsign)
                teams += 1
            elif at is not None and callsigns < s.callsign_changes:
                self.game(life, at, "callsign", life.team, self.callsign(life.team))
                callsigns += 1

    # ------------------------------------------------------------ the CAD

    def cad(self) -> None:
        s, rng = self.size, self.rng
        eligible = [life for life in self.on_duty() if life.team in ("Police", "Sheriff")]
        officers = rng.sample(eligible, min(s.cad_officers, len(eligible)))
        for ident, life in enumerate(officers, start=101):
            assert life.callsign is not None
            self.cad_units.add(life.callsign)
            login = round(rng.uniform(life.joined + self.poll + 5, life.joined + self.poll + 40), 1)
            name, rank = CAD_NAMES[ident % len(CAD_NAMES)], CAD_RANKS[ident % len(CAD_RANKS)]
            department = "LSPD" if life.team == "Police" else "BCSO"
            self.officer(
                ident,
                life.callsign.lower(),
                name,
                department,
                rank,
                login,
                logout=s.cad_logouts and ident % 2 == 0,
            )
        if s.cad_officers and s.cad_logouts:
            self.officer(199, "3c-01", "Ofc Alone", "SAHP", "OFC", round(0.2 * s.duration, 1), logout=True)

    def officer(
        self, ident: int, unit_num: str, name: str, department: str, rank: str, at: float, *, logout: bool
    ) -> None:
        rng, end = self.rng, 0.9 * self.size.duration
        self.cad_event(
            CadEvent(at, "login", ident, unit_num, name, department, rank, code=rng.choice((0, 2)))
        )
        for _ in range(rng.randint(1, 3)):
            at += rng.uniform(12, 30)
            if at < end:
                self.cad_event(CadEvent(round(at, 1), "status", ident, code=rng.choice((1, 2, 3, 4))))
        if logout and at + 10 < end:
            at += rng.uniform(10, 25)
            self.cad_event(CadEvent(round(at, 1), "logout", ident))
            if ident == 102 and at + 20 < end:  # one officer logs in again, as they were
                self.cad_event(
                    CadEvent(round(at + 15, 1), "login", ident, unit_num, name, department, rank, code=2)
                )

    def cad_event(self, event: CadEvent) -> None:
        self.records.append(event)
        unit = next(
            (
                rules.canonical_id(e.unit_num)
                for e in self.records
                if isinstance(e, CadEvent) and e.ident == event.ident and e.unit_num
            ),
            None,
        )
        self.touch(unit, event.at, "cad")

    # ------------------------------------------------------------ commands

    def text(self) -> str:
        s, roll = self.size, self.rng.random()
        if roll < s.not_status:
            return self.rng.choice(NOT_STATUS)
        if s.odd_commands and roll < s.not_status + 0.25:
            return self.rng.choice(ODD)
        return self.rng.choice(PLAIN)

    def commands(self) -> None:
        s, rng = self.size, self.rng
        typed: dict[str, list[float]] = {}
        planned = 0
        for life in self.on_duty():
            for change in list(life.changes):
                if change.kind == "join" and change.at > 0 and rng.random() < s.right_after_join:
                    at = float(int(change.at + rng.uniform(3, 8)))
                    planned += self.command(life, at, rng.choice(AFTER_JOIN), typed)
        for _ in range(s.commands * 50):
            if planned >= s.commands:
                break
            life = rng.choice(self.lives)
            planned += self.command(life, float(rng.randint(3, int(0.95 * s.duration))), self.text(), typed)

    def command(self, life: _Life, at: float, text: str, typed: dict[str, list[float]]) -> bool:
        state = life.state_at(at)
        if state is None or any(abs(c.at - at) < 2 for c in life.changes):
            return False
        if (
            not self.size.type_before_poll
            and at < max(c.at for c in life.changes if c.at <= at) + self.poll + 3
        ):
            return False
        if any(abs(t - at) < 3 for t in typed.get(life.user_id, [])):
            return False
        unit = rules.canonical_id(state.callsign) if state.callsign else None
        if unit in {rules.canonical_id(c) for c in self.cad_units} and any(
            kind == "cad" and abs(t - at) < 3 for t, kind in self.touched.get(unit or "", [])
        ):
            return False
        typed.setdefault(life.user_id, []).append(at)
        self.records.append(Typed(at, life.user_id, life.name, text, self.sends(at)))
        self.touch(state.callsign if state.team in rules.DEPARTMENTS else None, at, "command")
        return True

    def sends(self, at: float) -> tuple[Delivery, ...]:
        s, rng = self.size, self.rng
        first = at + (rng.uniform(4, 20) if rng.random() < s.late else rng.uniform(0.2, 1.0))
        sends = [Delivery(round(first, 2))]
        if rng.random() < s.duplicates:
            if rng.random() < 0.5:
                sends.append(Delivery(round(first + rng.uniform(0.5, 3), 2), "resend"))
            else:
                sends.append(Delivery(round(first + rng.uniform(5, 25), 2), "resigned"))
        return tuple(sends)

    # ------------------------------------------------------------ the dispatcher

    def edits(self) -> None:
        s, rng = self.size, self.rng
        rejoiners = [
            rules.canonical_id(life.callsign or "")
            for life in self.lives
            if [c.kind for c in life.changes] == ["join", "leave", "join"]
        ]
        cad = sorted(rules.canonical_id(c) for c in self.cad_units)
        everyone = sorted(self.touched)
        for index in range(s.edits):
            name = ("officer_name", "department", "status")[index % 3]
            preferred = rejoiners if index < 2 else cad if index == 3 else everyone
            for attempt in range(400):
                pool = preferred if preferred and attempt < 200 else everyone
                unit, at = rng.choice(pool), round(rng.uniform(0.2 * s.duration, 0.9 * s.duration), 1)
                if self.editable(unit, at):
                    self.records.append(Edit(at, unit, {name: rng.choice(EDIT_VALUES[name])}))
                    self.touch(unit, at, "edit")
                    break

    def editable(self, unit: str, at: float) -> bool:
        """A moment the model can judge: the relay has surely written the unit, nothing else touches
        it within five seconds, and no game change of it is still unseen by the relay's poll."""
        touches = self.touched.get(unit, [])
        unseen = 2 * self.poll + 15 + (60 if self.size.erlc_outages else 0)
        first = min((t for t, kind in touches if kind in ("game", "cad")), default=None)
        return (
            first is not None
            and first + unseen <= at
            and all(abs(t - at) >= 5 for t, _ in touches)
            and not any(kind == "game" and at - unseen <= t <= at for t, kind in touches)
        )

    # ------------------------------------------------------------ failures

    def failures(self) -> None:
        s = self.size
        if s.partner_faults:
            specs: list[dict[str, object]] = [
                {"kind": "status", "status": 500, "count": 1},
                {"kind": "timeout", "seconds": s.read_timeout + 2, "count": 1},
                {"kind": "throttle", "status": 429, "retry_after": "2", "count": 1},
                {"kind": "status", "status": 500, "count": 2},
                {"kind": "status", "status": 503, "count": 1},
                {"kind": "throttle", "status": 429, "retry_after": "5", "count": 2},
            ]
            for index, spec in enumerate(specs):
                at = round(s.duration * (0.1 + 0.11 * index) + self.rng.uniform(0, 5), 1)
                self.records.append(PartnerFault(at, spec))
        if s.erlc_outages:
            self.records.append(Outage(round(RATE_LIMIT_AT * s.duration, 1), "rate-limit"))
            self.records.append(Outage(round(OFFLINE_AT * s.duration, 1), "offline"))


def plan_evening(size: Size, seed: int) -> list[Record]:
    """The evening's records in time order (times are seconds from the start)."""
    planner = _Planner(size, seed)
    planner.players()
    planner.cad()
    planner.leaves()
    planner.moves()
    planner.commands()
    planner.edits()
    planner.failures()
    return sorted(planner.records, key=lambda r: r.at)
