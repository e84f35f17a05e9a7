"""What to write for one unit, from what the partner holds, what the relay knows and the batch's changes.

Pure: the consumer reads the partner's units (the list endpoint) once per MDT and guild, then plans
each unit the batch mentions. Per writable field, with P the partner's value and B the relay's
baseline for it (relay.consumer.unit_state):

1. What P is. P == B: nothing happened since. P is a value one of the relay's own PUTs carried, sent
   within two late-write windows before the unit's `updated_at`: it stands for what it stood for then
   (an older value of the relay's, landing late; or a newer one whose answer was lost), and the newer
   of that and B is what the partner "holds". P is "" and the relay knows nothing of the field: a blank
   nobody set. Anything else: another writer wrote P, dated by the unit's `updated_at` (by the read's
   time when the partner gives none that can be read).
2. The batch's newest change to the field is written if it is newer than that (a tie goes to the
   other writer). Otherwise the field keeps that value: the other writer's, or the relay's newest,
   which puts it back over an older PUT of its own that landed late.
3. A cleared field is sent as "", the partner's own unset value; nothing is ever sent as null.

The unit's PUT body is the partner's record with those values; no PUT is made when it equals the
record. A unit the list does not name is not recreated when no change of the batch is newer than what
the relay knew (another writer removed it); otherwise its body is the batch's newer changes and every
other value the relay knows of it, its own and other writers' it saw (the list may be partial: a field
left out is stored as "", so a bare create would blank the rest). A unit the relay knows nothing of is
created with only the fields a change sets. When the partner has no list endpoint (`listed=False`,
degraded), the body is the batch's newer changes plus the values the relay itself wrote, and nothing
else.

Every value a PUT writes (a field it leaves out is written as "") is recorded as sent, with the
baseline it stands for, before the PUT (`intent`): whatever happens to the PUT, the relay recognises
it when it sees it again. The intent also records what the read observed of other writers, dated by
the unit's `updated_at` as it was before the PUT changed it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from relay.consumer.merge import FieldStamp
from relay.consumer.unit_state import (
    BLANK,
    MAX_SENT,
    Baseline,
    FieldState,
    Sent,
    UnitKey,
    UnitState,
)
from relay.models import UNIT_FIELDS
from relay.ports.partner import PartnerUnit, UnitRecord

FieldOutcome = Literal["written", "superseded", "owned", "held", "reasserted", "kept", "observed"]
# How far a source's value of a field wins over another source's (relay.consumer.policy.UnitPolicy.rank
# for one MDT): (source, field) -> rank. None: every source alike, the newest wins.
Ranking = Callable[[str, str], int] | None


@dataclass(slots=True)
class UnitPlan:
    key: UnitKey
    # The record to PUT (every field sent), or None when the partner already holds it.
    body: UnitRecord | None
    # The fields to store once the body is confirmed written (or now, when there is no body).
    resolved: dict[str, FieldState]
    # The fields to store before the PUT: what it is about to send, and what the read observed.
    intent: dict[str, FieldState] = field(default_factory=dict)
    outcomes: dict[str, FieldOutcome] = field(default_factory=dict)


def outranks(a_source: str, b_source: str, name: str, rank: Ranking) -> bool | None:
    """Whether `a_source`'s value of `name` wins over `b_source`'s by rank; None when the ranks do not
    decide (equal, no ranking, or a source unknown: state written before sources were kept)."""
    if rank is None or not a_source or not b_source:
        return None
    a, b = rank(a_source, name), rank(b_source, name)
    return None if a == b else a > b


def _newer(a: Baseline | None, b: Baseline | None, name: str, rank: Ranking) -> Baseline | None:
    if a is None:
        return b
    if b is None:
        return a
    ranked = outranks(b.source, a.source, name, rank) if a.ours and b.ours else None
    if ranked is not None:
        return b if ranked else a
    return b if b.key() > a.key() else a


def _minus(moment: datetime | None, window: timedelta) -> datetime | None:
    try:
        return moment - window if moment is not None else None
    except OverflowError:  # a partner's updated_at at the calendar's start
        return None


def what_the_partner_holds(
    state: FieldState,
    value: str,
    updated_at: datetime | None,
    window: timedelta,
    now: datetime,
    name: str = "",
    rank: Ranking = None,
) -> tuple[Baseline | None, bool]:
    """The baseline P stands for (None: a blank nobody set), and whether it is another writer's edit
    the relay had not seen."""
    base = state.base
    if base is not None and value == base.value:
        return base, False
    # A PUT of the relay's lands at most `window` after it was sent, and the relay looks again about
    # `window` after an uncertain one: an edit of another field in between moves `updated_at` past the
    # landing, so a value sent within two windows of `updated_at` is still taken for the relay's own.
    since = _minus(updated_at, window * 2)
    mine = [s.base for s in state.sent if s.base.value == value and (since is None or s.at >= since)]
    if mine:
        return _newer(base, max(mine, key=Baseline.key), name, rank), False
    if base is None and value == "":
        return None, False
    # Without a usable updated_at the other writer's edit is dated by this read, the latest it can be:
    # a change the relay had before the read never reverts it; one that comes after it does.
    return Baseline.observed(value, updated_at or now), True


def plan_unit(
    state: UnitState,
    changes: Mapping[str, FieldStamp],
    partner: PartnerUnit | None,
    *,
    listed: bool,
    window: timedelta,
    now: datetime,
    rank: Ranking = None,
    reassert: bool = False,
) -> UnitPlan:
    """The plan for one unit. `listed`: whether the partner's list was read (False when degraded).
    `reassert`: a resync asks for the unit: one the list leaves out is put back with every value the
    relay knows, as if a change were newer (the operator says the MDT lost it; docs/operations.md)."""
    if not listed or partner is None:
        return _plan_unseen(state, changes, now, listed=listed, rank=rank, reassert=reassert and listed)
    # A partner's clock far ahead (or a bogus updated_at) must not pin every field against the relay.
    updated_at = min(partner.updated_at, now + window) if partner.updated_at is not None else None
    held_fields = partner.fields
    targets: dict[str, Baseline] = {}
    outcomes: dict[str, FieldOutcome] = {}
    same = True  # whether every target equals what the partner holds: then no PUT
    for name in UNIT_FIELDS:
        held = held_fields.get(name, "")
        base, other = what_the_partner_holds(state.field(name), held, updated_at, window, now, name, rank)
        change = changes.get(name)
        if change is not None and later(change, base, name, rank):
            target = targets[name] = Baseline.written(change)
            outcomes[name] = "written"
        else:
            target = targets[name] = base if base is not None else BLANK
            if change is not None and base is not None and not base.ours:
                outcomes[name] = "superseded"
            elif change is not None and base is not None and outranks(base.source, change.source, name, rank):
                outcomes[name] = "owned"
            elif target.value != held:
                outcomes[name] = "reasserted"
            elif other:
                outcomes[name] = "observed"
            elif change is not None:
                outcomes[name] = "kept"
        same = same and target.value == held
    if same:
        resolved: dict[str, FieldState] = {n: state.field(n).based_on(targets[n]) for n in UNIT_FIELDS}
        return UnitPlan(state.key, None, resolved, outcomes=outcomes)
    body = UnitRecord(state.key.unit_id, {name: targets[name].value for name in UNIT_FIELDS})
    return _with_intent(state, body, targets, outcomes, now)


def later(change: FieldStamp, base: Baseline | None, name: str = "", rank: Ranking = None) -> bool:
    """Whether a change wins over a baseline: over the relay's own, a source that outranks the other for
    the field wins; otherwise the newer wins (`change.key() > base.key()`, the tiebreak text only built
    when the event times are equal). Another writer's edit is only ever compared by time."""
    if base is None:
        return True
    if base.ours:
        ranked = outranks(change.source, base.source, name, rank)
        if ranked is not None:
            return ranked
    if change.at != base.at:
        return change.at > base.at
    return change.tiebreak > base.tiebreak


def _plan_unseen(
    state: UnitState,
    changes: Mapping[str, FieldStamp],
    now: datetime,
    *,
    listed: bool,
    rank: Ranking,
    reassert: bool = False,
) -> UnitPlan:
    """A unit the partner does not hold (`listed`), or one the relay cannot read (degraded)."""
    newer = {
        name: change for name, change in changes.items() if later(change, state.field(name).base, name, rank)
    }
    known = [n for n in UNIT_FIELDS if (b := state.field(n).base) is not None and not b.is_blank]
    if not newer and not (reassert and known):
        return UnitPlan(state.key, None, dict(state.fields))
    targets: dict[str, Baseline] = {}
    fields: dict[str, str] = {}
    for name in UNIT_FIELDS:
        base = state.field(name).base
        if name in newer:
            targets[name] = Baseline.written(newer[name])
            fields[name] = targets[name].value
        elif base is not None and not base.is_blank and (listed or base.ours):
            # Not listed: every value the relay knows (a partial list must not blank the unit).
            # Degraded: only what the relay itself wrote (it sees no other writer's edits).
            targets[name] = base
            fields[name] = base.value
        else:
            # Left out: the partner stores "" for it (a create has nothing else to say).
            targets[name] = BLANK
    body = UnitRecord(state.key.unit_id, fields)
    outcomes: dict[str, FieldOutcome] = dict.fromkeys(newer, "written")
    if reassert:
        outcomes |= {name: "reasserted" for name in known if name not in newer}
    return _with_intent(state, body, targets, outcomes, now)


def _with_intent(
    state: UnitState,
    body: UnitRecord,
    targets: dict[str, Baseline],
    outcomes: dict[str, FieldOutcome],
    now: datetime,
) -> UnitPlan:
    """The plan of a PUT: the fields to store before it (every value it writes recorded as sent, and
    what was observed of other writers) and once it is confirmed (every field at its target)."""
    intent: dict[str, FieldState] = dict(state.fields)
    resolved: dict[str, FieldState] = dict(state.fields)
    for name in UNIT_FIELDS:
        target = targets[name]
        current = state.field(name)
        sent = current.sent
        if sent and sent[-1].base == target:  # sent again: only its time changes
            sent = (*sent[:-1], Sent(target, now))
        else:
            sent = (*(s for s in sent if s.base != target), Sent(target, now))[-MAX_SENT:]
        resolved[name] = FieldState(target, sent, current.heard)
        # A written value's baseline waits for the partner's answer; an observation does not.
        intent[name] = (
            FieldState(current.base, sent, current.heard)
            if outcomes.get(name) == "written"
            else resolved[name]
        )
    return UnitPlan(state.key, body, resolved, intent, outcomes)
