"""One Northca call per sender call, and every panic delivered, proved by Hypothesis (issue 18, item 6).

The world: a few sender calls, each with a create (some have none: only events that may not create
it), updates and maybe a close, at any event times, each event delivered one to three times in any
order; a few panics, each press delivered one to three times. The consumer is the real
`process_batch` on in-memory ports; a second consumer on the same store and partner runs a whole batch
of its own at any conditional write of the first (two consumers at once); the partner answers each
request normally, with a 500, a timeout before or after applying it, or holds it to land later, under
each answer to a repeated call id (409, upsert, a second call) and with or without the empty-PATCH
read; a dispatcher edits calls between batches. Messages given back come back after their delay.

Once every message is done: each sender call that had a create is exactly one Northca call (none
under an id of the partner's own), holding for each field the newest of the relay's changes and the
dispatcher's edits, closed when the sender closed it; a call no event could create does not exist;
each press panicked its unit exactly once (twice at most where a panic's answer was lost: nothing can
tell whether it landed); nothing went to the DLQ.

As for units (test_consumer_properties.py), a dispatcher's edit is dated by the call's `updated_at`
when the relay reads it, so the dispatcher does not edit while a request of the relay's is held to
land late; without the read (the partner refuses empty PATCHes) the dispatcher does not edit: the
relay then only knows its own changes (docs/emergencies.md says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from relay.config.schema import EmergenciesConfig
from relay.consumer.calls import OTHER_WRITER, call_id
from relay.consumer.emergency_state import RecordKey
from relay.errors import NorthcaServerError, NorthcaTimeoutError
from relay.messages import QueueMessage
from relay.models import CLOSED, CallChange, Panic, format_instant
from tests.support.constants import ACTOR, GUILD, MDT, NOW
from tests.support.consumer import RecordingDeadLetters, record
from tests.support.emergencies import EmergencyHarness, MemoryNorthca

FIELDS = ("description", "location", "priority")
FAULTS = ["ok", "ok", "ok", "500", "timeout", "applied-then-timeout", "late"]
MAX_STEPS = 400


@dataclass
class Queued:
    message_id: str
    body: str
    visible_at: int = 0
    receives: int = 0


@dataclass
class World:
    h: EmergencyHarness
    queue: list[Queued] = field(default_factory=list)
    step: int = 0
    edits: list[tuple[str, str, str, datetime]] = field(default_factory=list)  # call id, field, value, at
    interleaved: int = 0

    def visible(self) -> list[Queued]:
        return [q for q in self.queue if q.visible_at <= self.step]


def call_events(draw: Any, index: int) -> list[CallChange]:
    key = f"c{index}"
    events = []
    opens = draw(st.booleans()) or index == 0
    times = draw(st.lists(st.integers(0, 50), min_size=1, max_size=4, unique=True))
    for n, at in enumerate(times):
        names = draw(st.lists(st.sampled_from(FIELDS), max_size=2, unique=True))
        fields: dict[str, Any] = {name: f"{name[:3]}-{index}-{at}" for name in names}
        if draw(st.booleans()):
            fields["units_assigned"] = [f"U-{at}"]
        closing = n > 0 and draw(st.integers(0, 4)) == 0
        if closing:
            fields["status"] = CLOSED
        events.append(
            CallChange(
                key=key,
                at=NOW + timedelta(seconds=at),
                fields=fields,
                opens=opens and n == 0,
                created_by="caller" if opens and n == 0 else None,
            )
        )
    return events


def message(
    webhook: str, received: int, calls: tuple[CallChange, ...] = (), panics: tuple[Panic, ...] = ()
) -> QueueMessage:
    return QueueMessage(
        source="cad",
        mdt_id=MDT,
        guild_id=GUILD,
        actor=ACTOR,
        webhook_id=webhook,
        received_at=NOW + timedelta(seconds=received),
        calls=list(calls),
        panics=list(panics),
    )


def expected_fields(
    events: list[tuple[CallChange, QueueMessage]], edits: list[tuple[str, str, str, datetime]]
) -> dict[str, Any]:
    """Per field, the newest of the relay's changes (a close first) and the dispatcher's edits."""
    best: dict[str, tuple[Any, ...]] = {}
    for change, msg in events:
        tiebreak = f"{format_instant(msg.received_at)}#{msg.webhook_id}#{msg.offset:06d}"
        for name, value in change.fields.items():
            order = (name == "status" and value == CLOSED, change.at, tiebreak)
            if name not in best or order > best[name][0]:
                best[name] = (order, value)
    for _, name, value, at in edits:
        order = (False, at, OTHER_WRITER)
        if name not in best or order > best[name][0]:
            best[name] = (order, value)
    return {name: value for name, (_, value) in best.items()}


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=st.data(),
    mode=st.sampled_from(["conflict", "upsert", "duplicate"]),
    reads=st.sampled_from(["record", "refused"]),
)
def test_one_call_per_sender_call_newest_fields_closed_stays_closed_and_every_panic_lands(
    data: st.DataObject, mode: str, reads: str
) -> None:
    draw = data.draw
    northca = MemoryNorthca(repeated=mode, empty_patch=reads)  # type: ignore[arg-type]
    h = EmergencyHarness(northca, max_event_skew_seconds=3600)
    # A window longer than the test's whole timeline: any two copies of a press are within it.
    h.emergencies = EmergenciesConfig(panic_repeat_window_seconds=3600)
    h.dead_letters = RecordingDeadLetters()
    world = World(h)
    # The world: calls' events and panics' presses, each delivered 1-3 times, in any order.
    calls = {f"c{i}": call_events(draw, i) for i in range(draw(st.integers(1, 3)))}
    sent: list[tuple[CallChange, QueueMessage]] = []
    bodies: list[str] = []
    webhook = 0
    for events in calls.values():
        for change in events:
            webhook += 1
            msg = message(f"wh-{webhook}", int((change.at - NOW).total_seconds()) + 1, calls=(change,))
            sent.append((change, msg))
            bodies += [msg.body()] * draw(st.integers(1, 3))
    presses = [f"P-{i}" for i in range(draw(st.integers(0, 3)))]
    for unit in presses:
        northca.edit(unit, status="10-8")  # on duty: the MDT holds it
        webhook += 1
        press = message(f"wh-{webhook}", 1, panics=(Panic(unit=unit, at=NOW, key=unit),))
        bodies += [press.body()] * draw(st.integers(1, 3))
    order = draw(st.permutations(range(len(bodies))))
    world.queue = [Queued(f"m{i}", bodies[i]) for i in order]

    while world.queue and world.step < MAX_STEPS:
        world.step += 1
        h.clock.advance(1)
        action = draw(st.sampled_from(["batch", "batch", "batch", "edit", "land"]))
        if action == "land" and northca.late:
            northca.land_late()
            continue
        if action == "edit" and reads == "record" and not northca.late and northca.calls:
            target = draw(st.sampled_from(sorted({c["id"] for c in northca.calls})))
            name = draw(st.sampled_from(FIELDS))
            value = f"edit-{world.step}"
            northca.edit_call(target, **{name: value})
            world.edits.append((target, name, value, h.clock()))
            continue
        visible = world.visible()
        if not visible:
            continue
        run_batch(world, draw, visible)
    # Everything the partner held back lands; what is left comes back until done.
    northca.land_late()
    for _ in range(60):
        if not world.queue:
            break
        world.step += 600
        h.clock.advance(600)
        northca.call_script = []
        run_batch(world, draw, world.visible(), quiet=True)
    event(f"{mode}, reads {reads}")
    event("a dispatcher edited" if world.edits else "no edit")
    event("an answer was lost" if northca.lost else "no answer lost")
    event(
        "a create was sent twice"
        if sum(m == "POST" for m, _, _ in northca.call_requests) > len(calls)
        else "one create each"
    )
    event("two consumers interleaved" if world.interleaved else "one consumer at a time")
    assert not world.queue, [q.body for q in world.queue]
    assert h.dead_letters.letters == []

    check_calls(northca, calls, sent, world.edits)
    # Every press panicked its unit once, twice at most where a panic's answer was lost.
    for unit in presses:
        count = sum(1 for p in northca.panics if p["unit_id"] == unit)
        lost = northca.lost.count(("PANIC", unit))
        assert 1 <= count <= 1 + lost, (unit, count, lost)


def check_calls(
    northca: MemoryNorthca,
    calls: dict[str, list[CallChange]],
    sent: list[tuple[CallChange, QueueMessage]],
    edits: list[tuple[str, str, str, datetime]],
) -> None:
    """One Northca call per sender call that could be created, none under the partner's own ids, each
    field the newest, closed when the sender closed it."""
    ids = [c["id"] for c in northca.calls]
    assert len(ids) == len(set(ids)) and not [i for i in ids if i.startswith("gen-")], ids
    for key, events in calls.items():
        chosen = call_id("cad", key)
        opened = any(e.opens for e in events)
        records = northca.stored_calls(MDT, chosen)
        assert len(records) == (1 if opened else 0), (key, records)
        if not opened:
            continue
        mine = [(c, m) for c, m in sent if c.key == key]
        wanted = expected_fields(mine, [e for e in edits if e[0] == chosen])
        stored = northca.call(chosen)
        history = [r for r in northca.call_requests if r[1] == chosen]
        for name, value in wanted.items():
            assert stored[name] == value, (key, name, stored, wanted, history)
        assert (stored["status"] == CLOSED) == any(c.fields.get("status") == CLOSED for c, _ in mine)
        assert stored["created_by"] == "caller"


def run_batch(world: World, draw: Any, visible: list[Queued], quiet: bool = False) -> None:
    """One consumer invocation over some visible messages; a second one may run at any of its writes."""
    h = world.h
    northca = h.northca
    size = len(visible) if quiet else draw(st.integers(1, min(5, len(visible))))
    batch = visible[:size]
    others = [q for q in world.visible() if q not in batch]
    faults = [] if quiet else draw(st.lists(st.sampled_from(FAULTS), max_size=4))
    northca.call_script = [fault(name) for name in faults]
    interleave_at = None if quiet or not others else draw(st.integers(0, 6))
    writes = [0]

    def second_consumer(key: RecordKey) -> None:
        writes[0] += 1
        if writes[0] != interleave_at:
            return
        h.emergency_state.before_write = None
        world.interleaved += 1
        deliver(world, others[: draw(st.integers(1, len(others)))])
        h.emergency_state.before_write = second_consumer

    h.emergency_state.before_write = second_consumer
    deliver(world, batch)
    h.emergency_state.before_write = None


def deliver(world: World, batch: list[Queued]) -> None:
    h = world.h
    in_flight = [q for q in batch if q in world.queue]
    for q in in_flight:
        q.receives += 1
        world.queue.remove(q)
    if not in_flight:
        return
    failed = h.run(*(record(q.message_id, q.body, q.receives) for q in in_flight))
    delays = h.outcome.emergency_delays
    for q in in_flight:
        if q.message_id in failed:
            q.visible_at = world.step + max(1, delays.get(q.message_id, 1))
            world.queue.append(q)


def fault(name: str) -> Any:
    if name == "500":
        return NorthcaServerError("Internal Server Error", 500)
    if name == "timeout":
        return NorthcaTimeoutError("timed out: ReadTimeoutError")
    return None if name == "ok" else name  # applied-then-timeout, late
