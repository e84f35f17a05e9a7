"""The evening's findings: the model against what the MDT showed. Pure.

- a field difference: at the end, a unit's field on the MDT is not the model's (a unit the model
  has and the MDT lacks, or the other way round, is one difference);
- a dropped command: a command the model kept as the player's status for at least `MIN_HOLD`
  seconds after it was sent whose status the MDT never showed on the player's unit, from its sending
  until `GRACE` seconds after the model moved on: lost, or so late that a newer status came first (a
  command superseded sooner, or delivered after a newer one, is not judged: a relay may merge it);
- a unit wrongly sent off duty: the relay wrote the off-duty status over an on-duty one while the model
  had the unit on duty for the whole `lag` before (the poll period and `GRACE`: no leave it could
  have been late for); a mass reset is `MASS_RESET_UNITS` or more of those within `BURST_SECONDS`;
- a reverted edit: after a dispatcher's edit, the relay wrote another value in that field of that
  unit before the model's next real change of it;
- a duplicate unit: two records on the MDT for one officer (ids equal but for case and spacing);
- latency per path: from the stimulus's sending (a join: the moment the player joined) to the first
  moment the MDT showed it, when the MDT did not show it already.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from relay_devtools.gamenight import rules
from relay_devtools.gamenight.mdt import MdtHistory, Record
from relay_devtools.gamenight.model import Expectation, Model

MIN_HOLD = 10.0
GRACE = 15.0
MASS_RESET_UNITS = 3
BURST_SECONDS = 10.0
PATHS = ("command", "join", "cad")


@dataclass(frozen=True)
class Difference:
    unit: str
    field: str
    expected: str | None
    shown: str | None


@dataclass(frozen=True)
class Dropped:
    unit: str
    label: str
    sent_at: float
    status: str


@dataclass(frozen=True)
class WronglyOff:
    at: float
    unit: str


@dataclass(frozen=True)
class Reverted:
    unit: str
    field: str
    value: str
    edited_at: float
    reverted_at: float
    reverted_to: str


@dataclass
class Findings:
    differences: list[Difference]
    dropped: list[Dropped]
    wrongly_off: list[WronglyOff]
    mass_resets: list[list[WronglyOff]]
    reverted: list[Reverted]
    duplicates: dict[str, list[str]]
    latencies: dict[str, list[float]] = field(default_factory=dict)
    unshown: dict[str, int] = field(default_factory=dict)


def holds(expectation: Expectation) -> Callable[[Record | None], bool]:
    def check(record: Record | None) -> bool:
        if record is None:
            return False
        if expectation.wants is None:
            return record.get("status", "") not in rules.OFF_DUTY_STATUSES
        return all(record.get(name, "") == value for name, value in expectation.wants.items())

    return check


def differences(model: Model, listed: Mapping[str, list[Record]]) -> list[Difference]:
    found: list[Difference] = []
    for unit_id, expected in sorted(model.final().items()):
        records = listed.get(unit_id)
        if not records:
            found.append(Difference(unit_id, "(unit)", "present", None))
            continue
        shown = records[0]
        found.extend(
            Difference(unit_id, name, value, shown.get(name, ""))
            for name, value in expected.items()
            if shown.get(name, "") != value
        )
    found.extend(
        Difference(unit_id, "(unit)", None, "present") for unit_id in sorted(set(listed) - set(model.units))
    )
    return found


def _judge(expectation: Expectation, mdt: MdtHistory) -> tuple[float | None, bool]:
    """(latency or None, shown already at sending)."""
    check = holds(expectation)
    if check(mdt.record_at(expectation.unit, expectation.sent_at)):
        return None, True
    shown = mdt.first_time(expectation.unit, expectation.sent_at, check)
    if shown is None or shown > expectation.until + GRACE:
        return None, False
    return shown - expectation.sent_at, False


def latencies(model: Model, mdt: MdtHistory) -> tuple[dict[str, list[float]], dict[str, int], list[Dropped]]:
    samples: dict[str, list[float]] = {path: [] for path in PATHS}
    unshown: dict[str, int] = dict.fromkeys(PATHS, 0)
    dropped: list[Dropped] = []
    for expectation in model.expectations:
        latency, already = _judge(expectation, mdt)
        if latency is not None:
            samples[expectation.path].append(latency)
            continue
        # Judged only when it stood long enough after the relay could know it (a command delivered
        # after a newer status is rightly never shown).
        if already or expectation.until - max(expectation.model_at, expectation.sent_at) < MIN_HOLD:
            continue
        unshown[expectation.path] += 1
        if expectation.path == "command" and expectation.wants:
            dropped.append(
                Dropped(expectation.unit, expectation.label, expectation.sent_at, expectation.wants["status"])
            )
    return samples, unshown, dropped


def wrongly_off(model: Model, mdt: MdtHistory, lag: float) -> list[WronglyOff]:
    found = []
    for unit_id, writes in mdt.writes.items():
        for write in writes:
            was_on = write.before is not None and write.before.get("status") not in rules.OFF_DUTY_STATUSES
            if write.by != "relay" or not was_on or write.record.get("status") not in rules.OFF_DUTY_STATUSES:
                continue
            if model.on_duty_throughout(unit_id, write.at - lag, write.at):
                found.append(WronglyOff(write.at, unit_id))
    return sorted(found, key=lambda w: w.at)


def bursts(offs: list[WronglyOff]) -> list[list[WronglyOff]]:
    groups: list[list[WronglyOff]] = []
    for off in offs:
        if groups and off.at - groups[-1][-1].at <= BURST_SECONDS:
            groups[-1].append(off)
        else:
            groups.append([off])
    return [g for g in groups if len({o.unit for o in g}) >= MASS_RESET_UNITS]


def reverted(model: Model, mdt: MdtHistory) -> list[Reverted]:
    found = []
    for check in model.edits:
        for write in mdt.of(check.unit):
            if write.unit_id != check.unit_id or write.by != "relay":
                continue
            if check.at < write.at < check.until and write.record.get(check.field, "") != check.value:
                found.append(
                    Reverted(
                        check.unit, check.field, check.value, check.at, write.at, write.record[check.field]
                    )
                )
                break
    return found


def duplicates(listed: Mapping[str, list[Record]]) -> dict[str, list[str]]:
    return {unit: sorted(r["id"] for r in records) for unit, records in listed.items() if len(records) > 1}


def measure(
    model: Model, mdt: MdtHistory, listed: Mapping[str, list[Record]], poll_seconds: float
) -> Findings:
    samples, unshown, dropped = latencies(model, mdt)
    offs = wrongly_off(model, mdt, poll_seconds + GRACE)
    return Findings(
        differences=differences(model, listed),
        dropped=dropped,
        wrongly_off=offs,
        mass_resets=bursts(offs),
        reverted=reverted(model, mdt),
        duplicates=duplicates(listed),
        latencies=samples,
        unshown=unshown,
    )


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(share * len(ordered)), 1)
    return ordered[rank - 1]
