"""Which change each field of a unit takes from a batch, when several sources spoke of it: pure.

Per field, each source's value is its newest change in the batch (relay.consumer.merge) or, newer or
alone, what it said before (`heard`, remembered with the field):
1. A source that reports state (a CAD's unit record, the game's roster) and says again the value it
   said before has not changed it: the value keeps the time it was first said, so another writer's edit
   made since stands (a rejoin, a re-login, a repeated snapshot).
2. The value of the source that owns the field wins (relay.consumer.policy: `[units.owners]`, else a
   CAD over forms over other senders over the game, for the officer's name, badge, department and
   rank); between equals, the newest. Remembered values take part: a game announcement never wins over
   a CAD's name remembered from an earlier batch, whatever the order the two arrived in.
3. An off-duty status is not taken while another source still has the unit on duty (heard within the
   duty memory): the next value is.
The field takes the winner only if it is this batch's news; a winner the relay already knew is no change.
What each source said is remembered once the unit is written (a PUT that fails is tried again as news).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal, NamedTuple

from relay.consumer.merge import FieldStamp, MergedUnit
from relay.consumer.policy import UnitPolicy
from relay.consumer.unit_state import MAX_HEARD, Heard, UnitState


class Resolved(NamedTuple):
    changes: dict[str, FieldStamp]  # the change each field takes from the batch (absent: none)
    heard: dict[str, tuple[Heard, ...]]  # what each source has said of each field, after the batch
    # field -> why its news was not taken: on duty, owned by another source, or not newer than what the
    # relay already knew (an older event time, or the same change again)
    held: dict[str, Literal["held", "owned", "kept"]]
    why: dict[str, str]  # field -> the reason, as the outcome line gives it


def _key(stamp: FieldStamp) -> tuple[datetime, str]:
    return (stamp.at, stamp.tiebreak)


def _heard_after(before: tuple[Heard, ...], stamps: Iterable[FieldStamp]) -> tuple[Heard, ...]:
    """Each source's memory, brought up to date with its newest change of the batch."""
    heard = {h.source: h for h in before}
    for stamp in stamps:
        known = heard.get(stamp.source)
        said = stamp.first or stamp  # a run of one value in the batch was first said there
        if known is None:
            heard[stamp.source] = Heard(stamp.source, stamp.value, said.at, said.tiebreak, stamp.at)
        elif stamp.value == known.value:
            first = (stamp.at, stamp.tiebreak) if _key(stamp) < (known.at, known.tiebreak) else None
            at, tiebreak = first or (known.at, known.tiebreak)
            heard[stamp.source] = Heard(known.source, known.value, at, tiebreak, max(known.last_at, stamp.at))
        elif stamp.at > known.last_at:
            heard[stamp.source] = Heard(stamp.source, stamp.value, said.at, said.tiebreak, stamp.at)
        # else: an older change of another value, arriving late: the memory keeps the newest
    return tuple(sorted(heard.values(), key=lambda h: (h.last_at, h.source))[-MAX_HEARD:])


def _as_first_said(stamp: FieldStamp, known: Heard | None) -> FieldStamp:
    """A repeat of the value a source last said (in an earlier batch, or earlier in this one), dated
    when it first said it."""
    if stamp.first is not None:
        stamp = FieldStamp(stamp.value, stamp.first.at, stamp.first.tiebreak, source=stamp.source)
    if known is None or known.value != stamp.value or (known.at, known.tiebreak) >= _key(stamp):
        return stamp
    return FieldStamp(stamp.value, known.at, known.tiebreak, source=stamp.source)


def _said_again(stamp: FieldStamp, remembered: dict[str, Heard], policy: UnitPolicy) -> FieldStamp:
    if not policy.reports_state(stamp.source):
        return stamp  # every event counts: a player who types ;10-8 again means it
    return _as_first_said(stamp, remembered.get(stamp.source))


def _stamp(heard: Heard) -> FieldStamp:
    return FieldStamp(heard.value, heard.at, heard.tiebreak, source=heard.source)


Outcome = tuple[FieldStamp | None, Literal["held", "owned", "kept"] | None, str | None]


def resolve(unit: MergedUnit, state: UnitState, policy: UnitPolicy, mdt_id: str, now: datetime) -> Resolved:
    by_field: dict[str, list[FieldStamp]] = {}
    for newest in unit.sources.values():
        for name, stamp in newest.items():
            by_field.setdefault(name, []).append(stamp)
    resolved = Resolved({}, {}, {}, {})
    for name, said in by_field.items():
        before = state.field(name).heard
        resolved.heard[name] = _heard_after(before, said)
        if len(said) == 1 and all(h.source == said[0].source for h in before):
            change, outcome, reason = _alone(said[0], before, policy)
        else:
            change, outcome, reason = _weighed(name, said, before, resolved.heard[name], policy, mdt_id, now)
        if change is not None:
            resolved.changes[name] = change
        if outcome is not None:
            resolved.held[name] = outcome
        if reason is not None:
            resolved.why[name] = reason
    return resolved


def _alone(stamp: FieldStamp, before: tuple[Heard, ...], policy: UnitPolicy) -> Outcome:
    """One source alone (the common case): no owner or voice to weigh, only its own memory."""
    known = before[0] if before else None
    candidate = _said_again(stamp, {known.source: known} if known else {}, policy)
    if known is None or _key(candidate) > (known.at, known.tiebreak):
        return candidate, None, None
    return None, "kept", None


def _weighed(
    name: str,
    said: list[FieldStamp],
    before: tuple[Heard, ...],
    heard: tuple[Heard, ...],
    policy: UnitPolicy,
    mdt_id: str,
    now: datetime,
) -> Outcome:
    """Several sources: each one's value (its news when newer than what it said before, else what it
    said before), ranked; the first not held on duty wins, and is a change if it is news."""
    remembered = {h.source: _stamp(h) for h in before}
    news = {stamp.source: _said_again(stamp, {h.source: h for h in before}, policy) for stamp in said}
    values = dict(remembered)
    for source, stamp in news.items():
        known = remembered.get(source)
        if known is None or _key(stamp) > _key(known):
            values[source] = stamp
    ranked = sorted(
        values.values(), key=lambda c: (policy.rank(mdt_id, c.source, name), c.at, c.tiebreak), reverse=True
    )
    held: Outcome | None = None
    for candidate in ranked:
        reason = _held_on_duty(name, candidate, heard, policy, mdt_id, now)
        if reason is not None:
            if held is None and news.get(candidate.source) is candidate:
                held = (None, "held", reason)
            continue
        if news.get(candidate.source) is candidate:
            return candidate, None, None
        if held is not None:
            return held
        if _outranked(candidate, news, values, policy, mdt_id, name):
            return None, "owned", f"{name}: {candidate.source}'s value wins this field"
        return None, "kept", None
    return held if held is not None else (None, "kept", None)


def _outranked(
    winner: FieldStamp,
    news: dict[str, FieldStamp],
    values: dict[str, FieldStamp],
    policy: UnitPolicy,
    mdt_id: str,
    name: str,
) -> bool:
    """Whether some news of the batch lost to the winner by rank (not by being older)."""
    top = policy.rank(mdt_id, winner.source, name)
    return any(
        values.get(source) is stamp and policy.rank(mdt_id, source, name) < top
        for source, stamp in news.items()
    )


def _held_on_duty(
    name: str,
    candidate: FieldStamp,
    heard: tuple[Heard, ...],
    policy: UnitPolicy,
    mdt_id: str,
    now: datetime,
) -> str | None:
    """Why an off-duty status is not taken (another voice has the unit on duty), or None. Sources of one
    voice are one opinion, the newest of them what it says: a player's own `;10-7` is not held by the
    roster that announced them, and the roster's 10-7 when they leave is not held by their last command."""
    if name != "status" or not policy.off_duty(mdt_id, candidate.value):
        return None
    since = now - policy.duty_memory(mdt_id)
    mine = policy.voice(candidate.source)
    says: dict[str, Heard] = {}
    for entry in heard:
        voice = policy.voice(entry.source)
        if voice != mine and (voice not in says or entry.last_at > says[voice].last_at):
            says[voice] = entry
    for voice, entry in sorted(says.items(), key=lambda item: item[1].last_at, reverse=True):
        on_duty = entry.value is not None and not policy.off_duty(mdt_id, entry.value)
        if on_duty and entry.last_at >= since:
            return f"{name}: on duty per {voice} ({entry.value})"
    return None
