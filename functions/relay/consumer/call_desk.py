"""One sender call's events delivered to its one Northca call: the record read, the request leased by a
conditional write, sent, and confirmed (relay.consumer.calls says what is sent and why).

In rounds: read the record; accept the batch's events; then, by the record's phase,
- held (not created): remember the events; create the call once one of them may (lease, POST, confirm);
- posting (a create's answer was lost): look for the call (a read: `PATCH {}`); there: created; not
  there: POST again once the late-request window has passed, not before;
- created: read the call, send what is newer (lease, PATCH, confirm);
- gone (the partner no longer has the call: a dispatcher deleted it): nothing is sent again.
A conditional write that another consumer won sends the call to the next round, from a fresh read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from relay.consumer.calls import (
    CallState,
    Lease,
    Stamp,
    accept,
    call_id,
    create_fields,
    create_stamps,
    created,
    delivered,
    looked_again,
    observe,
    sending,
    superseded,
    updates,
    wire,
)
from relay.consumer.emergency_session import EmergencySession, answered
from relay.consumer.emergency_state import EmergencyStore, RecordKey, call_key
from relay.errors import (
    NorthcaError,
    NorthcaInvalidRequestError,
    NorthcaNotFoundError,
    NorthcaUnexpectedStatusError,
    PartnerStoppedError,
    UnitStateUnavailableError,
)
from relay.ports.partner import CallRecord, CallValue, NewCall

Fate = Literal["done", "retry", "wait", "refused"]
MAX_ROUNDS = 3
# Creates one delivery may send: a second only after an answered failure showed the first was not there.
MAX_POSTS = 2


@dataclass
class CallResult:
    """What became of one call's events: `fate` decides their messages (done: deleted; retry: back after
    a delay, and the alarm's log line; wait: back after `delay`, no alarm; refused: the DLQ)."""

    call_id: str
    outcome: str  # created | updated | unchanged | superseded | held | gone | given back | waiting | refused
    fate: Fate
    detail: str = ""
    delay: int | None = None
    written: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CallGroup:
    """The batch's events of one sender call."""

    mdt_id: str
    guild_id: str
    actor: str | None
    source: str
    key: str
    stamps: Mapping[str, Stamp]  # the newest of each field among the events
    opens: bool
    created_by: str | None

    @property
    def record_key(self) -> RecordKey:
        return call_key(self.mdt_id, self.guild_id, self.source, self.key)


class CallDesk:
    def __init__(
        self,
        store: EmergencyStore,
        session: EmergencySession,
        clock: Callable[[], datetime],
        *,
        window: timedelta,
        request_budget: timedelta,
        ttl_seconds: int,
    ) -> None:
        self.store, self.session, self.clock = store, session, clock
        self.window, self.request_budget, self.ttl = window, request_budget, ttl_seconds

    def deliver(self, group: CallGroup, stored: Mapping[str, object] | None, version: int) -> CallResult:
        self.posts = 0
        value = stored
        fallback = call_id(group.source, group.key)
        for round_ in range(MAX_ROUNDS):
            if round_:
                record = self.store.read_many([group.record_key])[group.record_key]
                value, version = record.value, record.version
            base = CallState.from_json(value) if value else CallState(fallback)
            state = accept(base, group.stamps, group.opens, group.created_by)
            result = self._round(group, state, version)
            if result is not None:
                return result
        return CallResult(fallback, "given back", "retry", "another consumer kept writing this call")

    # ------------------------------------------------------------------ one round

    def _round(self, group: CallGroup, state: CallState, version: int) -> CallResult | None:
        """The call's outcome, or None when another consumer wrote its record first (read again)."""
        now = self.clock()
        if state.phase == "gone":
            return CallResult(state.call_id, "gone", "done", "the partner no longer has this call")
        lease = state.busy(now)
        if lease is not None and now < lease.deadline:
            # Back when that consumer is done at the latest (a copy waits; a wait must not use up receives).
            return _waiting(state, "another consumer is sending this call", lease.deadline, now)
        if state.phase == "held":
            if not state.opens:
                saved = self._save(group, state, version)
                detail = "no event of this call may create it yet: its changes are kept for when one does"
                return None if saved is None else CallResult(state.call_id, "held", "done", detail)
            return self._create(group, state, version, now)
        return self._look(group, state, version, now, lease)

    def _look(
        self, group: CallGroup, state: CallState, version: int, now: datetime, lease: Lease | None
    ) -> CallResult | None:
        """Read the call (posting: is it there? created: what does it hold?), then update it."""
        if state.phase == "created" and lease is None and not updates(state, state.held):
            # Nothing newer than what the relay delivered (a copy, an older event): no request at all.
            return self._update(group, state, version, now)
        try:
            record, version = self._read(group, state, version)
        except _Conflict:
            return None
        except (NorthcaNotFoundError, _Absent) as exc:
            if isinstance(exc, _Absent):
                version = exc.version
            elif exc.status != 404:
                return self._setup(group, state, exc)
            if state.phase == "created":
                return self._gone(group, state, version)
            if state.lease is not None and now < state.lease.until:
                # A create may still land: no second POST before the late-request window has passed.
                return _waiting(state, "a create may still land", state.lease.until, now)
            return self._create(group, state, version, now)
        except (NorthcaError, PartnerStoppedError) as exc:
            return self._failed(state, exc)
        unseen = self._unseen(state, record)
        if lease is not None and self.session.reads_refused and looked_again(state):
            return self._found_while_a_look_may_land(group, state, record, version, now, lease)
        if record is not None:
            state = observe(state, record, now)
        state = replace(state, phase="created")
        if lease is not None and unseen:
            # An update whose answer was lost is not visible: it may still land over a newer one.
            until = state.lease.until if state.lease else now
            return _waiting(state, "an earlier update may still land", until, now)
        return self._update(group, replace(state, lease=None, sent={}), version, now)

    def _found_while_a_look_may_land(
        self,
        group: CallGroup,
        state: CallState,
        record: CallRecord | None,
        version: int,
        now: datetime,
        lease: Lease,
    ) -> CallResult | None:
        """Created, but an earlier look may still land with the create's values: nothing newer goes out
        before the window has passed; the values stay unconfirmed, so a round before then waits too."""
        found = replace(observe(state, record, now) if record is not None else state, phase="created")
        waiting = replace(found, lease=lease._replace(deadline=now), sent=state.sent, first_post=None)
        if self._save(group, waiting, version) is None:
            return None
        return _waiting(state, "an earlier look may still land", lease.until, now)

    @staticmethod
    def _unseen(state: CallState, record: CallRecord | None) -> bool:
        """Whether a created call's unconfirmed update is not visible in the read (or cannot be seen)."""
        if state.phase != "created" or not any(state.sent.values()):
            return False
        if record is None:
            return True
        return any(
            name not in record.fields or wire(name, stamps[-1].value) != record.fields[name]
            for name, stamps in state.sent.items()
            if stamps
        )

    def _read(self, group: CallGroup, state: CallState, version: int) -> tuple[CallRecord | None, int]:
        """The call as the partner holds it (`PATCH {}`), and the record's version; None when the
        partner refuses empty PATCHes: a created call is then patched from what the relay knows, and a
        create whose answer was lost is looked for with the values it carried, under a lease of its own
        (that look writes: a consumer that read the record before another created the call must not
        send them again). Raises _Conflict when another consumer wrote the record first."""
        if not self.session.reads_refused:
            try:
                return self._patch(group, state, {}), version
            except NorthcaInvalidRequestError:
                self.session.reads_refused = True
        if state.phase != "posting":
            return None, version
        carried = {n: s[-1] for n, s in state.sent.items() if s}
        now = self.clock()
        looking = sending(state, carried, now, self.request_budget, self.window)
        leased = self._save(group, looking, version)
        if leased is None:
            raise _Conflict
        try:
            return self._patch(group, state, {n: wire(n, s.value) for n, s in carried.items()}), leased
        except NorthcaNotFoundError as exc:
            if exc.status == 404:
                raise _Absent(leased) from None
            raise
        except NorthcaError as exc:
            if exc.maybe_applied and not answered(exc):
                self._end_lease(group, looking, leased, now)  # it may land: the lease's window stands
            raise

    def _patch(
        self, group: CallGroup, state: CallState, fields: Mapping[str, CallValue]
    ) -> CallRecord | None:
        writer = self.session.writer
        body = dict(fields)
        return self.session.attempt(
            group.mdt_id,
            group.guild_id,
            lambda: writer.update_call(group.mdt_id, group.guild_id, state.target, body, group.actor),
            # A read carries nothing; values whose answer was lost are not sent again here (the lease)
            repeat="if-over" if body else "always",
        )

    # ------------------------------------------------------------------ create

    def _create(self, group: CallGroup, state: CallState, version: int, now: datetime) -> CallResult | None:
        if self.posts >= MAX_POSTS:
            return self._failed(state, NorthcaError("the partner failed the create twice"))
        posted = create_stamps(state.held)
        claimed = sending(
            replace(state, phase="posting", first_post=state.first_post or now),
            posted,
            now,
            self.request_budget,
            self.window,
        )
        claimed_version = self._save(group, claimed, version)
        if claimed_version is None:
            return None
        self.posts += 1
        writer = self.session.writer
        call = NewCall(claimed.call_id, create_fields(posted), claimed.created_by)
        try:
            record = self.session.attempt(
                group.mdt_id,
                group.guild_id,
                lambda: writer.create_call(group.mdt_id, group.guild_id, call, group.actor),
                repeat="never",
            )
        except NorthcaUnexpectedStatusError as exc:
            if exc.status != 409 or self.posts >= MAX_POSTS:
                return self._released(group, state, claimed_version, self._setup(group, state, exc))
            # The id is taken: an earlier create landed. Read it, then patch what is newer.
            self.posts = MAX_POSTS  # a call the partner says exists is never created again here
            return self._resume(group, claimed, claimed_version, now)
        except NorthcaInvalidRequestError as exc:
            refused = CallResult(
                claimed.call_id, "refused", "refused", f"partner refused the call: {exc.message}"
            )
            return self._released(group, state, claimed_version, refused)
        except NorthcaNotFoundError as exc:
            return self._released(group, state, claimed_version, self._setup(group, state, exc))
        except (NorthcaError, PartnerStoppedError) as exc:
            if not (isinstance(exc, NorthcaError) and exc.maybe_applied):
                return self._released(group, state, claimed_version, self._failed(claimed, exc))
            if answered(exc):
                # Over at the partner: look for the call now, and create it again if it is not there.
                return self._resume(group, claimed, claimed_version, now)
            # It may land later: the lease stands until the window has passed; it is looked for soon.
            self._end_lease(group, claimed, claimed_version, now)
            return self._failed(claimed, exc)
        done = replace(created(claimed, posted, record), held={})
        self._save(group, done, claimed_version)
        return CallResult(done.call_id, "created", "done", written=_shown(posted))

    # ------------------------------------------------------------------ update

    def _update(self, group: CallGroup, state: CallState, version: int, now: datetime) -> CallResult | None:
        wanted = dict(state.held)
        sends = updates(state, wanted)
        lost = superseded(state, wanted)
        if not sends:
            saved = self._save(group, replace(state, held={}), version)
            if saved is None:
                return None
            if lost:
                return CallResult(
                    state.call_id, "superseded", "done", f"another writer's newer {', '.join(lost)}"
                )
            return CallResult(state.call_id, "unchanged", "done", "the call already holds these changes")
        claimed = sending(state, sends, now, self.request_budget, self.window)
        claimed_version = self._save(group, claimed, version)
        if claimed_version is None:
            return None
        body = {name: wire(name, stamp.value) for name, stamp in sends.items()}
        try:
            self._patch(group, claimed, body)
        except NorthcaNotFoundError as exc:
            if exc.status != 404:
                return self._released(group, state, claimed_version, self._setup(group, state, exc))
            return self._gone(group, claimed, claimed_version)
        except NorthcaInvalidRequestError as exc:
            refused = CallResult(
                claimed.call_id, "refused", "refused", f"partner refused the update: {exc.message}"
            )
            return self._released(group, replace(state, held={}), claimed_version, refused)
        except (NorthcaError, PartnerStoppedError) as exc:
            if isinstance(exc, NorthcaError) and exc.maybe_applied:
                self._end_lease(group, claimed, claimed_version, now)
                return self._failed(claimed, exc)
            return self._released(group, state, claimed_version, self._failed(claimed, exc))
        self._save(group, replace(delivered(claimed, sends), held={}), claimed_version)
        detail = f"another writer's newer {', '.join(lost)} kept" if lost else ""
        return CallResult(claimed.call_id, "updated", "done", detail, written=_shown(sends))

    # ------------------------------------------------------------------ endings

    def _gone(self, group: CallGroup, state: CallState, version: int) -> CallResult | None:
        saved = self._save(group, replace(state, phase="gone", lease=None, sent={}, held={}), version)
        detail = "the partner no longer has this call (deleted in Northca?): it is not created again"
        return None if saved is None else CallResult(state.call_id, "gone", "done", detail)

    def _resume(self, group: CallGroup, state: CallState, version: int, now: datetime) -> CallResult | None:
        """The request is over (answered): the lease is given up first, so that nothing this consumer
        does next, or fails to do, keeps another from the call; then the call is looked for."""
        released = replace(state, lease=None)
        saved = self._save(group, released, version)
        return None if saved is None else self._look(group, released, saved, now, None)

    def _end_lease(self, group: CallGroup, state: CallState, version: int, now: datetime) -> None:
        """This consumer is done with the request (its answer was lost): others may read the call from
        now on, and send once the late-request window has passed."""
        lease = state.lease._replace(deadline=now) if state.lease is not None else None
        self._save(group, replace(state, lease=lease), version)

    def _released(self, group: CallGroup, state: CallState, version: int, result: CallResult) -> CallResult:
        """The lease given up (the request was not applied), then the result."""
        self._save(group, replace(state, lease=None), version)
        return result

    def _setup(self, group: CallGroup, state: CallState, exc: NorthcaError) -> CallResult:
        self.session.setup_problem(group.mdt_id, exc, "an answer the contract does not give for a call")
        return CallResult(state.call_id, "given back", "retry", f"partner: {exc.message}")  # its own id

    def _failed(self, state: CallState, exc: Exception) -> CallResult:
        message = exc.message if isinstance(exc, NorthcaError) else str(exc)
        return CallResult(state.call_id, "given back", "retry", f"partner: {message}"[:300])

    def _save(self, group: CallGroup, state: CallState, version: int) -> int | None:
        try:
            return self.store.write(group.record_key, state.to_json(), version, self.ttl)
        except UnitStateUnavailableError as exc:
            raise CallStateError(str(exc)) from None


class CallStateError(Exception):
    """The record could not be written: the call's messages come back."""


class _Conflict(Exception):
    """Another consumer wrote the call's record first: read it again."""


class _Absent(Exception):
    """The call is not at the partner (a look that wrote the record: its new version)."""

    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


def _waiting(state: CallState, detail: str, until: datetime, now: datetime) -> CallResult:
    seconds = max(1, math.ceil((until - now).total_seconds()))  # back then: a wait, not a failure
    return CallResult(state.call_id, "waiting", "wait", detail, seconds)


def _shown(stamps: Mapping[str, Stamp]) -> dict[str, str]:
    return {
        name: ", ".join(v) if isinstance(v := wire(name, s.value), tuple) else v for name, s in stamps.items()
    }
