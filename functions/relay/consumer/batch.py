"""One invocation's units: planned against what the partner holds, written, and recorded in unit state.

Per (MDT, guild), in rounds:
1. read the partner's units (one GET) and plan every unit the batch mentions (relay.consumer.plan);
2. a unit whose plan needs no PUT has its observations stored (conditional write) and is done;
3. a unit that needs a PUT first records the values it is about to send (conditional write), so a PUT
   that lands late is recognised later as the relay's own; then the PUTs go out;
4. a confirmed unit stores its new baselines, conditional on the version of step 3.
A conditional write that loses to another consumer sends the unit to the next round: read again, plan
again from a fresh read of the partner, so whatever landed meanwhile is seen.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

from relay.consumer.invocation import Delivery, Invocation
from relay.consumer.merge import MdtBatch, MergedUnit, merge_messages
from relay.consumer.plan import UnitPlan
from relay.consumer.preview import partner_by_key, plan_merged_unit
from relay.consumer.session import PartnerSession, chunks
from relay.consumer.unit_state import FieldState, StateWrite, StateWrites, UnitKey, UnitState
from relay.errors import NorthcaError, PartnerStoppedError, UnitStateUnavailableError
from relay.models import UNIT_FIELDS
from relay.observability import logger
from relay.ports.partner import PartnerUnit, UnitRecord

# Field outcomes that only hold once the unit's PUT is confirmed.
NOT_CONFIRMED = ("written", "reasserted")


class UnitOutcome(NamedTuple):
    key: UnitKey
    result: str  # written | unchanged | superseded | refused | given back
    detail: str
    fields: dict[str, str]  # field -> its FieldOutcome, or "not written" when the PUT was not confirmed
    written: dict[str, str]  # the values the PUT changed
    recheck: bool
    message_ids: set[str]
    unit_id: str  # as the partner spells it (key.unit_id is the key ids compare by)


class UnitBatch:
    """The merged units of one batch, their state, and which of them were not written."""

    def __init__(self, deliveries: list[Delivery], run: Invocation) -> None:
        deps = self.deps = run.deps
        self.outcome = run.outcome
        self.budget = run.budget
        skew = timedelta(seconds=deps.settings.max_event_skew_seconds)
        self.policy = deps.policy
        messages = ((d.message_id, d.message) for d in deliveries)
        self.groups = merge_messages(messages, skew, canonical=self.policy.canonical)
        self.units: dict[UnitKey, MergedUnit] = {
            UnitKey(group.mdt_id, group.guild_id, unit.unit_id): unit
            for group in self.groups.values()
            for unit in group.units.values()
        }
        self.states: dict[UnitKey, UnitState] = {}
        self.failed: set[UnitKey] = set()
        self.refused: dict[UnitKey, str] = {}
        # Units a PUT may still reach late: checked again once the late-write window has passed.
        self.recheck: set[UnitKey] = set()
        # Each unit's last plan, and whether it was confirmed written: what the unit outcomes log says.
        self.plans: dict[UnitKey, UnitPlan] = {}
        # Each unit's id as the partner spells it (else as the newest change did), and why a field took
        # no change of the batch (another source has the unit on duty).
        self.display: dict[UnitKey, str] = {}
        self.held: dict[UnitKey, dict[str, str]] = {}
        self.written: set[UnitKey] = set()
        # Why the partner session stopped writing to an (MDT, guild): the detail of its units' outcomes.
        self.stopped_groups: dict[tuple[str, str], str] = {}
        self.window = timedelta(seconds=deps.settings.late_write_window_seconds)

    def run(self, session: PartnerSession) -> None:
        self.stopped_groups = session.forbidden
        for group in self.groups.values():
            for clamp in group.clamps:
                self.outcome.clamped += 1
                logger.warning(
                    "event time in the future clamped to the receive time",
                    extra={
                        "source": clamp.source,
                        "webhook_id": clamp.webhook_id,
                        "unit_id": clamp.unit_id,
                        "at": clamp.at.isoformat(),
                        "received_at": clamp.received_at.isoformat(),
                    },
                )
        if not self._read(sorted(self.units)):
            return
        for key in sorted(self.groups):
            group = self.groups[key]
            keys = sorted(k for k in self.units if (k.mdt_id, k.guild_id) == key)
            self._group(group, keys, session)

    # ------------------------------------------------------------------ the store

    def _read(self, keys: list[UnitKey]) -> bool:
        """Read these units' state (into self.states); False, with the units failed, when it cannot."""
        if not self.budget.can_start():
            self.failed |= set(keys)
            return False
        try:
            self.states |= self.deps.state.read_many(keys)
        except UnitStateUnavailableError as exc:
            logger.warning("unit state unavailable, these units come back", extra={"error": str(exc)})
            self.failed |= set(keys)
            return False
        return True

    def _write_many(self, writes: list[StateWrite]) -> StateWrites:
        """The conditional writes (concurrent where the store can); a write not made fails its unit."""
        if not writes:
            return StateWrites()
        results = self.deps.state.write_many(writes, self.budget.can_start)
        if results.failed:
            self.failed |= set(results.failed)
            reasons = sorted(set(results.failed.values()))
            logger.warning(
                "unit state not written, these units come back",
                extra={"units": len(results.failed), "reasons": reasons[:3]},
            )
        return results

    # ------------------------------------------------------------------ one MDT and guild

    def _group(self, group: MdtBatch, keys: list[UnitKey], session: PartnerSession) -> None:
        for _ in range(self.deps.settings.max_resend_rounds):
            if not keys:
                return
            try:
                partner = session.list_units(group)
            except (NorthcaError, PartnerStoppedError):
                self.failed |= set(keys)
                return
            keys = self._round(group, keys, partner, session)
            if keys:
                self.outcome.resends += len(keys)
                if not self._read(keys):
                    return
        if keys:
            logger.warning("units kept changing while being written", extra={"units": len(keys)})
            self.failed |= set(keys)

    def _round(
        self,
        group: MdtBatch,
        keys: list[UnitKey],
        partner: dict[str, PartnerUnit] | None,
        session: PartnerSession,
    ) -> list[UnitKey]:
        """Plan, record, PUT and resolve these units once; returns those another consumer wrote meanwhile."""
        writes: list[StateWrite] = []
        to_put: dict[UnitKey, UnitRecord] = {}
        now = self.deps.clock()  # one instant per round: the plans are made from one read
        held_by_key = partner_by_key(self.policy, group.mdt_id, partner)
        for key in keys:
            state = self.states[key]
            unit = self.units[key]
            found = held_by_key.get(key.unit_id)
            plan, resolved = plan_merged_unit(
                unit,
                state,
                found[1] if found is not None else None,
                listed=partner is not None,
                policy=self.policy,
                mdt_id=group.mdt_id,
                window=self.window,
                now=now,
            )
            self._count(plan)
            self.plans[key] = plan
            self.held[key] = resolved.why
            self.display[key] = found[0] if found is not None else unit.spelling
            if plan.body is not None:
                writes.append(StateWrite(key, plan.intent, state.version))
                to_put[key] = UnitRecord(self.display[key], plan.body.fields)
            elif plan.resolved != dict(state.fields):
                writes.append(StateWrite(key, plan.resolved, state.version))
        recorded = self._write_many(writes)
        again = set(recorded.conflicts)
        confirmed: list[StateWrite] = []
        ready = [key for key in to_put if key in recorded.versions]
        for chunk in chunks(ready, self.deps.max_units_per_request):
            result = session.write_units(group, [to_put[key] for key in chunk])
            self.recheck |= {key for key in chunk if to_put[key].unit_id in result.uncertain}
            for key in chunk:
                sent_as = to_put[key].unit_id
                if sent_as in result.written:
                    self.outcome.units_written += 1
                    self.written.add(key)
                    confirmed.append(StateWrite(key, self.plans[key].resolved, recorded.versions[key]))
                elif sent_as in result.refused:
                    self.refused[key] = result.refused[sent_as]
                else:
                    self.failed.add(key)
        again |= self._write_many(confirmed).conflicts
        return sorted(again)

    def _count(self, plan: UnitPlan) -> None:
        for outcome in plan.outcomes.values():
            if outcome == "superseded":
                self.outcome.superseded += 1
            elif outcome == "reasserted":
                self.outcome.reasserted += 1

    # ------------------------------------------------------------------ the messages' fate

    def unit_outcomes(self) -> list[UnitOutcome]:
        """What became of each unit the batch mentions (one log line each: docs/operations.md). A field
        is called written only when the unit's PUT was confirmed; otherwise it is "not written"."""
        outcomes = []
        for key in sorted(self.units):
            plan = self.plans.get(key)
            fields: dict[str, str] = dict(plan.outcomes) if plan is not None else {}
            written: dict[str, str] = {}
            if key in self.written and plan is not None and plan.body is not None:
                result, detail = "written", ""
                written = {
                    n: v for n, v in plan.body.fields.items() if fields.get(n) in ("written", "reasserted")
                }
            else:
                fields = {
                    n: "not written" if o in ("written", "reasserted") else o for n, o in fields.items()
                }
                if key in self.refused:
                    result, detail = "refused", self.refused[key]
                elif key in self.failed:
                    stopped = self.stopped_groups.get((key.mdt_id, key.guild_id))
                    result, detail = "given back", stopped or self.budget.stopped or "not written this time"
                elif "superseded" in fields.values():
                    result, detail = "superseded", "another writer's value at the partner is newer"
                else:
                    result, detail = "unchanged", "the partner already holds it"
            reasons = "; ".join(self.held.get(key, {}).values())
            detail = "; ".join(part for part in (detail, reasons) if part)
            outcomes.append(
                UnitOutcome(
                    key,
                    result,
                    detail,
                    fields,
                    written,
                    key in self.recheck,
                    self.units[key].message_ids,
                    self.display.get(key, self.units[key].spelling),
                )
            )
        return outcomes

    def failed_message_ids(self) -> set[str]:
        return set().union(*(self.units[key].message_ids for key in self.failed))

    def recheck_units(self) -> list[tuple[UnitKey, str]]:
        """Units a PUT may still reach late, each with its id as it was sent."""
        return [(key, self.display.get(key, self.units[key].spelling)) for key in sorted(self.recheck)]

    def recheck_message_ids(self) -> set[str]:
        """Messages to see again after the late-write window: a PUT of theirs may still land."""
        return set().union(*(self.units[key].message_ids for key in self.recheck))

    def refused_messages(self) -> dict[str, str]:
        """Messages whose only unwritten units were refused by the partner: retrying cannot help them."""
        retried = self.failed_message_ids()
        reasons: dict[str, list[str]] = {}
        for key in sorted(self.refused):
            for message_id in self.units[key].message_ids - retried:
                reasons.setdefault(message_id, []).append(
                    f"partner refused unit {key.unit_id!r} of MDT {key.mdt_id}: {self.refused[key]}"
                )
        return {message_id: "; ".join(why) for message_id, why in reasons.items()}


def _every(state: UnitState) -> list[tuple[str, FieldState]]:
    return [(name, state.field(name)) for name in UNIT_FIELDS]
