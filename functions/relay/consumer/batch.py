"""One invocation's units: the batch's changes merged into each unit's stored state (conditional
writes), which of them are due, and sending them through the partner session."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from relay.consumer.merge import GroupKey, MdtBatch, MergedUnit, merge_messages, merged_fields
from relay.consumer.session import PartnerSession, chunks
from relay.consumer.unit_state import UnitKey, UnitState
from relay.errors import UnitStateUnavailableError
from relay.observability import logger

if TYPE_CHECKING:
    from relay.consumer.pipeline import BatchOutcome, ConsumerDeps, Delivery


class UnitBatch:
    """One invocation's work: the merged units, their stored state, and which units failed."""

    def __init__(self, deliveries: list[Delivery], deps: ConsumerDeps, outcome: BatchOutcome) -> None:
        self.deps = deps
        self.outcome = outcome
        self.groups = merge_messages((d.message_id, d.message) for d in deliveries)
        self.redelivered = {d.message_id for d in deliveries if d.receive_count > 1}
        self.units: dict[UnitKey, MergedUnit] = {
            UnitKey(group.mdt_id, group.guild_id, unit.unit_id): unit
            for group in self.groups.values()
            for unit in group.units.values()
        }
        self.failed: set[UnitKey] = set()

    def reconcile(self, key: UnitKey, state: UnitState) -> UnitState | None:
        """Merge this batch's changes into the stored state; None when other writers kept winning."""
        incoming = self.units[key].fields
        for _ in range(self.deps.settings.max_write_conflicts):
            fields = merged_fields(state.fields, incoming)
            if fields is None:
                return state  # nothing newer here (a duplicate, or older than what is stored)
            version = self.deps.state.write_fields(key, fields, state.version)
            if version is not None:
                return UnitState(key, fields, version, state.sent_version)
            state = self.deps.state.read_many([key])[key]  # another consumer wrote first: merge onto theirs
        logger.warning("unit state kept changing under us", extra={"unit_id": key.unit_id})
        return None

    def due(self, key: UnitKey, state: UnitState) -> bool:
        # A redelivered message means an earlier attempt's outcome is unknown: send the record again.
        return state.unsent or bool(self.units[key].message_ids & self.redelivered)

    def prepare(self, stored: Mapping[UnitKey, UnitState]) -> dict[GroupKey, dict[UnitKey, UnitState]]:
        pending: dict[GroupKey, dict[UnitKey, UnitState]] = {}
        for key in sorted(self.units):
            try:
                state = self.reconcile(key, stored[key])
            except UnitStateUnavailableError as exc:
                logger.warning("unit state unavailable", extra={"unit_id": key.unit_id, "error": str(exc)})
                state = None
            if state is None:
                self.failed.add(key)
            elif self.due(key, state):
                pending.setdefault((key.mdt_id, key.guild_id), {})[key] = state
        return pending

    def send(self, group: MdtBatch, pending: dict[UnitKey, UnitState], session: PartnerSession) -> None:
        settings = self.deps.settings
        unfinished: set[UnitKey] = set()
        for _ in range(settings.max_resend_rounds):
            resend: list[UnitKey] = []
            for chunk in chunks(
                sorted(pending.values(), key=lambda s: s.key), self.deps.max_units_per_request
            ):
                result = session.write_units(group, chunk)
                unfinished |= {s.key for s in result.failed}
                self.outcome.refused_units |= result.refused
                unfinished |= set(result.refused)
                for state in result.written:
                    self.outcome.units_written += 1
                    if not self._mark_sent(state):
                        resend.append(state.key)
            if not resend:
                pending = {}
                break
            # Written again since we read it, and perhaps already PUT by the writer before our PUT
            # landed: send the newest record again, whatever sent_version says.
            self.outcome.resends += len(resend)
            try:
                pending = self.deps.state.read_many(resend)
            except UnitStateUnavailableError:
                unfinished |= set(resend)
                pending = {}
                break
        if pending:
            logger.warning("unit kept changing while being sent", extra={"units": len(pending)})
        unfinished |= set(pending)
        for key in sorted(unfinished):
            self._mark_dirty(key)
        self.failed |= unfinished

    def _mark_sent(self, state: UnitState) -> bool:
        try:
            return self.deps.state.mark_sent(state.key, state.version)
        except UnitStateUnavailableError:
            # Written, but not recorded as such: failing the messages makes a later attempt re-send.
            self.failed.add(state.key)
            return True

    def _mark_dirty(self, key: UnitKey) -> None:
        # Our PUT may have landed (or half-landed) after a newer one: whoever handles the unit next re-sends.
        try:
            self.deps.state.mark_dirty(key)
        except UnitStateUnavailableError as exc:
            logger.warning("could not mark unit dirty", extra={"unit_id": key.unit_id, "error": str(exc)})

    def failed_message_ids(self) -> set[str]:
        return set().union(*(self.units[key].message_ids for key in self.failed))

    def refused_messages(self) -> dict[str, str]:
        """Messages whose only unwritten units are ones the partner refused: retrying cannot help them."""
        refused = self.outcome.refused_units
        retried = set().union(*(self.units[key].message_ids for key in self.failed - set(refused)))
        reasons: dict[str, list[str]] = {}
        for key in sorted(refused):
            for message_id in self.units[key].message_ids - retried:
                reasons.setdefault(message_id, []).append(
                    f"partner refused unit {key.unit_id!r} of MDT {key.mdt_id}: {refused[key]}"
                )
        return {message_id: "; ".join(why) for message_id, why in reasons.items()}
