"""What the consumer would write, planned exactly as it plans (relay.consumer.batch), without writing:
`relay replay --dry-run` and `relay resync --dry-run` show it before anything is queued; and the
messages `relay resync` queues. Pure: the caller reads the unit state and the partner's list and
passes them in.

`plan_merged_unit` is the one planning step both share: the batch's news resolved per field among the
sources (relay.consumer.resolve), then planned against what the partner holds (relay.consumer.plan).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from relay.consumer.merge import GroupKey, MergedUnit, merge_messages
from relay.consumer.plan import FieldOutcome, UnitPlan, plan_unit
from relay.consumer.policy import UnitPolicy
from relay.consumer.resolve import Resolved, resolve
from relay.consumer.unit_state import FieldState, UnitKey, UnitState
from relay.messages import RESYNC_SOURCE, QueueMessage, queue_messages
from relay.models import UNIT_FIELDS, UnitChange
from relay.ports.partner import PartnerUnit


def plan_merged_unit(
    unit: MergedUnit,
    state: UnitState,
    found: PartnerUnit | None,
    *,
    listed: bool,
    policy: UnitPolicy,
    mdt_id: str,
    window: timedelta,
    now: datetime,
) -> tuple[UnitPlan, Resolved]:
    """One unit's plan from the batch's changes, its state and what the partner holds of it (`found`;
    `listed`: whether the partner's list was read at all)."""

    def rank(source: str, name: str) -> int:
        return policy.rank(mdt_id, source, name)

    resolved = resolve(unit, state, policy, mdt_id, now)
    heard = UnitState(
        state.key,
        {
            name: FieldState(f.base, f.sent, resolved.heard.get(name, f.heard))
            for name, f in ((n, state.field(n)) for n in UNIT_FIELDS)
        },
        state.version,
    )
    plan = plan_unit(
        heard,
        resolved.changes,
        found,
        listed=listed,
        window=window,
        now=now,
        rank=rank,
        reassert=unit.reassert,
    )
    for name, outcome in resolved.held.items():
        plan.outcomes.setdefault(name, outcome)
    # What each source said is kept once the unit is resolved: a PUT that fails is news again.
    plan.intent = {n: FieldState(f.base, f.sent, state.field(n).heard) for n, f in plan.intent.items()}
    return plan, resolved


def partner_by_key(
    policy: UnitPolicy, mdt_id: str, partner: Mapping[str, PartnerUnit] | None
) -> dict[str, tuple[str, PartnerUnit]]:
    """The partner's units by the key ids compare by, each with the id the partner spells it with. Two
    of the partner's ids with one key (written before ids were compared so): the one written last."""
    found: dict[str, tuple[str, PartnerUnit]] = {}
    for unit_id, unit in (partner or {}).items():
        key = policy.canonical(mdt_id, unit_id)
        other = found.get(key)
        if other is None or _written_later(unit, other[1]):
            found[key] = (unit_id, unit)
    return found


def _written_later(a: PartnerUnit, b: PartnerUnit) -> bool:
    return a.updated_at is not None and (b.updated_at is None or a.updated_at > b.updated_at)


@dataclass(frozen=True)
class PreviewRow:
    """What the consumer would do with one unit now."""

    mdt_id: str
    guild_id: str
    unit_id: str  # as the partner spells it, else as the newest change does
    # "create" (the partner does not list it), "write", "no change"
    action: str
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)  # field -> (the partner's, the new)
    fields: dict[str, FieldOutcome] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)


def preview(
    messages: Sequence[QueueMessage],
    states: Mapping[UnitKey, UnitState],
    lists: Mapping[GroupKey, Mapping[str, PartnerUnit] | None],
    *,
    policy: UnitPolicy,
    window: timedelta,
    skew: timedelta,
    now: datetime,
) -> list[PreviewRow]:
    """Each unit the messages name, planned against `states` (a unit absent: unknown, version 0) and
    `lists` (per MDT and guild, the partner's units; None: no list endpoint)."""
    groups = merge_messages(
        ((str(index), message) for index, message in enumerate(messages)), skew, canonical=policy.canonical
    )
    rows = []
    for (mdt_id, guild_id), group in sorted(groups.items()):
        partner = lists.get((mdt_id, guild_id))
        held = partner_by_key(policy, mdt_id, partner)
        for unit_key, unit in sorted(group.units.items()):
            key = UnitKey(mdt_id, guild_id, unit_key)
            found = held.get(unit_key)
            plan, resolved = plan_merged_unit(
                unit,
                states.get(key, UnitState(key)),
                found[1] if found is not None else None,
                listed=partner is not None,
                policy=policy,
                mdt_id=mdt_id,
                window=window,
                now=now,
            )
            before = found[1].fields if found is not None else {}
            changes = {}
            if plan.body is not None:
                changes = {
                    name: (before.get(name, ""), value)
                    for name, value in plan.body.fields.items()
                    if value != before.get(name, "")
                }
            action = "no change" if not changes else "write" if found is not None else "create"
            unit_id = found[0] if found is not None else unit.spelling
            rows.append(
                PreviewRow(mdt_id, guild_id, unit_id, action, changes, dict(plan.outcomes), resolved.why)
            )
    return rows


def spoken_of_by(state: UnitState, source: str) -> bool:
    """Whether a source spoke of the unit: a field's baseline is its change, or it was heard of a field."""
    return any(
        (f.base is not None and f.base.source == source) or any(h.source == source for h in f.heard)
        for f in state.fields.values()
    )


def known(state: UnitState) -> bool:
    """Whether the relay knows a value of the unit to put back (not only blanks it caused)."""
    return any(f.base is not None and not f.base.is_blank for f in state.fields.values())


def resync_messages(
    states: Sequence[UnitState], now: datetime, *, source: str | None = None
) -> list[QueueMessage]:
    """`relay resync`'s messages: an empty change of each unit the relay knows (of `source` only, when
    given), from RESYNC_SOURCE, one request per MDT and guild (split to fit SQS). The consumer plans
    each as any unit, and puts back whole one the partner no longer lists (relay.consumer.plan)."""
    groups: dict[GroupKey, list[UnitChange]] = {}
    for state in sorted(states, key=lambda s: s.key):
        if known(state) and (source is None or spoken_of_by(state, source)):
            key = (state.key.mdt_id, state.key.guild_id)
            groups.setdefault(key, []).append(UnitChange(id=state.key.unit_id, at=now))
    stamp = now.isoformat(timespec="milliseconds")
    return [
        message
        for (mdt_id, guild_id), changes in sorted(groups.items())
        for message in queue_messages(
            source=RESYNC_SOURCE,
            mdt_id=mdt_id,
            guild_id=guild_id,
            actor=None,
            webhook_id=f"resync:{stamp}",
            received_at=now,
            changes=changes,
        )
    ]
