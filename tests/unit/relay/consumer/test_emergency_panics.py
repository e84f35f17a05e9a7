"""Panics are events, not state (issue 18, item 2): each press sent once and at least once, never merged,
repeats within the window absorbed, a unit the MDT does not hold made active first (whatever the
partner answers for it), and a panic that cannot land in the DLQ with the partner's reason."""

from __future__ import annotations

from typing import Any

import pytest

from relay.consumer.pipeline import process_batch
from relay.errors import NorthcaServerError, NorthcaTimeoutError
from relay.memory import InMemorySlotStore
from relay.messages import QueueMessage, emergency_messages
from relay.models import CallChange, Panic
from relay.northca.pacing import PartnerPacer
from tests.support.constants import ACTOR, GUILD, MDT, NOW
from tests.support.consumer import RecordingDeadLetters, change, message, record
from tests.support.emergencies import EmergencyHarness, MemoryNorthca, PanicInactive, panic_message

T0 = NOW.timestamp()


def harness(panic_inactive: PanicInactive = "not-found") -> EmergencyHarness:
    h = EmergencyHarness(MemoryNorthca(panic_inactive=panic_inactive))
    h.dead_letters = RecordingDeadLetters()
    return h


def active(h: EmergencyHarness, unit: str = "ADAM-12") -> None:
    h.northca.edit(unit, status="10-8")


def test_a_panic_is_sent_at_once_with_the_senders_address() -> None:
    h = harness()
    active(h)
    assert h.run(record("m1", panic_message("wh-1", "ADAM-12", address="Route 68"))) == set()
    assert h.northca.panics == [
        {"mdt": MDT, "unit_id": "ADAM-12", "address": "Route 68", "ts": h.northca.panics[0]["ts"]}
    ]
    assert h.outcome.panics_sent == 1


def test_copies_of_one_press_within_the_window_panic_the_unit_once_and_a_later_press_again() -> None:
    h = harness()
    active(h)
    press = panic_message("wh-1", "ADAM-12")
    # Given one press delivered three times in a batch, then again (a sender's retry) 30 s later
    assert h.run(*(record(f"m{i}", press) for i in range(3))) == set()
    h.clock.advance(30)
    assert h.run(record("m9", panic_message("wh-2", "adam-12", 30))) == set()
    assert len(h.northca.panics) == 1
    # When the unit panics again once the repeat window (60 s) has passed / Then that is a new panic
    h.clock.advance(61)
    assert h.run(record("m10", panic_message("wh-3", "ADAM-12", 91))) == set()
    assert len(h.northca.panics) == 2


def test_two_presses_the_sender_tells_apart_are_two_panics() -> None:
    h = harness()
    active(h)
    first = panic_message("wh-1", "ADAM-12", key="2026-11-28T11:59:50Z")
    second = panic_message("wh-2", "ADAM-12", 5, key="2026-11-28T11:59:55Z")
    assert h.run(record("m1", first), record("m2", second), record("m3", first)) == set()
    assert len(h.northca.panics) == 2


@pytest.mark.parametrize("mode", ["not-found", "bad-request"])
def test_a_panic_for_a_unit_the_mdt_does_not_hold_makes_it_active_first(mode: PanicInactive) -> None:
    # Given an MDT that holds the unit under another spelling... and one that does not hold it at all
    h = harness(mode)
    h.northca.edit("ADAM-12", status="10-8")
    assert h.run(record("m1", panic_message("wh-1", "adam-12"))) == set()
    # Then the panic went to the unit as the partner spells it, after the unit path wrote its status
    assert [p["unit_id"] for p in h.northca.panics] == ["ADAM-12"]
    h.run(record("m2", panic_message("wh-2", "LINCOLN-3")))
    assert [p["unit_id"] for p in h.northca.panics] == ["ADAM-12", "LINCOLN-3"]
    assert h.northca.unit("LINCOLN-3")["status"] == "10-33"


def test_a_partner_that_panics_any_unit_gets_it_directly() -> None:
    h = harness("accept")
    assert h.run(record("m1", panic_message("wh-1", "LINCOLN-3"))) == set()
    assert h.northca.requests == []  # no unit written
    assert len(h.northca.panics) == 1


def test_a_panic_for_a_unit_the_partner_will_not_make_active_goes_to_the_dlq_with_its_reason() -> None:
    # Given a partner that refuses the unit itself (a 400 for its upsert)
    h = harness("bad-request")
    h.northca.refuse = {"LINCOLN-3"}
    assert h.run(record("m1", panic_message("wh-1", "LINCOLN-3"))) == set()
    assert h.dead_letters is not None
    assert h.dead_letters.reasons() == {
        "m1": "the unit could not be made active: partner refused it: Each unit must include a non-empty id"
    }


def test_a_unit_that_stays_inactive_sends_the_panic_to_the_dlq_with_the_partners_reason() -> None:
    h = harness("not-found")
    h.northca.script = []
    # The partner takes the unit but still answers 404 to its panic
    original = h.northca.trigger_panic

    def never(*args: object, **kwargs: object) -> object:
        h.northca.units.clear()
        return original(*args, **kwargs)  # type: ignore[arg-type]

    h.northca.trigger_panic = never  # type: ignore[method-assign]
    assert h.run(record("m1", panic_message("wh-1", "LINCOLN-3"))) == set()
    assert h.dead_letters is not None
    assert h.dead_letters.reasons() == {
        "m1": "partner refused the panic (Unit not found), and again once the unit was active: Unit not found"
    }


def test_a_blip_is_retried_in_the_invocation_and_the_panic_lands_once() -> None:
    h = harness()
    active(h)
    h.northca.call_script = [NorthcaServerError("Internal Server Error", 500)]
    assert h.run(record("m1", panic_message("wh-1", "ADAM-12"))) == set()
    assert len(h.northca.panics) == 1 and h.sleeps


def test_a_panic_whose_answer_was_lost_is_sent_again_at_least_once() -> None:
    # The one case a press may show twice: nothing can tell whether a lost answer's panic landed.
    h = harness()
    active(h)
    h.northca.call_script = ["applied-then-timeout"]
    assert h.run(record("m1", panic_message("wh-1", "ADAM-12"))) == set()
    assert len(h.northca.panics) == 2


def test_a_partner_outage_gives_the_panic_back_soon_then_later_then_to_the_dlq_with_why() -> None:
    h = harness()
    active(h)
    h.max_receive_count = 3
    down = [NorthcaTimeoutError("POST timed out: ReadTimeoutError")]
    msg = panic_message("wh-1", "ADAM-12")
    h.northca.call_script = down * 3
    assert h.run(record("m1", msg)) == {"m1"}
    assert h.outcome.emergency_delays == {"m1": 2}
    assert h.visibility.calls[-1] == (["rh-m1"], 2)
    h.northca.call_script = down * 3
    assert h.run(record("m1", msg, receive_count=2)) == {"m1"}
    assert h.outcome.emergency_delays == {"m1": 8}
    h.northca.call_script = down * 3
    assert h.run(record("m1", msg, receive_count=3)) == set()
    assert h.dead_letters is not None
    assert h.dead_letters.reasons()["m1"].startswith(
        "not delivered after 3 receives: partner: POST timed out"
    )
    assert h.northca.panics == []


def test_a_panic_is_never_held_behind_a_unit_nor_merged_with_one() -> None:
    # Given a batch with a unit's status change and two panics of that unit (two presses)
    h = harness()
    active(h)
    unit = message("wh-0", change("ADAM-12", 100, status="10-6"))
    first = panic_message("wh-1", "ADAM-12", 100, key="a")
    second = panic_message("wh-2", "ADAM-12", 101, key="b")
    assert h.run(record("u", unit), record("p1", first), record("p2", second)) == set()
    # Then both panics went out, before the unit's PUT
    assert len(h.northca.panics) == 2
    assert h.northca.unit("ADAM-12")["status"] == "10-6"


def test_a_panic_without_its_store_is_given_back_not_sent() -> None:
    h = harness()
    active(h)
    deps = h.deps()
    deps.emergency_state = None
    from relay.consumer.pipeline import process_batch

    outcome = process_batch([record("m1", panic_message("wh-1", "ADAM-12"))], deps)
    assert outcome.failed_message_ids == {"m1"} and h.northca.panics == []


def test_emergency_messages_are_one_per_panic_and_per_call_event_and_unit_messages_are_unchanged() -> None:
    panics = [Panic(unit="ADAM-12", at=NOW), Panic(unit="LINCOLN-3", at=NOW, address="here")]
    calls = [CallChange(key="7", at=NOW, fields={"status": "closed"}, opens=False)]
    messages = emergency_messages(
        source="cad",
        mdt_id=MDT,
        guild_id=GUILD,
        actor=ACTOR,
        webhook_id="w",
        received_at=NOW,
        calls=calls,
        panics=panics,
    )
    assert [(len(m.panics), len(m.calls)) for m in messages] == [(1, 0), (1, 0), (0, 1)]
    assert all('"changes"' not in m.body() for m in messages)
    unit = message("wh-0", change("ADAM-12", 1, status="10-6"))
    assert '"calls"' not in unit.body() and '"panics"' not in unit.body()
    assert QueueMessage.model_validate_json(messages[2].body()) == messages[2]


class PacedNorthca:
    """The emulated partner behind the pacer: every call takes its slot first, as NorthcaClient's do."""

    def __init__(self, northca: MemoryNorthca, pacer: PartnerPacer) -> None:
        self.northca, self.pacer = northca, pacer
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.northca, name)

        def paced(*args: Any, **kwargs: Any) -> Any:
            self.pacer.before_call()
            self.calls.append(name)
            return call(*args, **kwargs)

        return paced


@pytest.mark.parametrize("inactive", [False, True])
def test_a_panic_goes_ahead_of_the_units_waiting_for_the_partners_rate(inactive: bool) -> None:
    # Given units of other consumers that hold the partner's next slots (2 a second, bursts of 2: a call
    # now waits 1 s), and a batch with a unit change and a panic
    h = harness()
    if not inactive:
        active(h)
    store = InMemorySlotStore()
    backlog = PartnerPacer(store, 2.0, 2, clock=lambda: T0, sleep=lambda seconds: None)
    for _ in range(3):
        backlog.before_call()
    deps = h.deps(writer=PacedNorthca(h.northca, PartnerPacer(store, 2.0, 2, clock=lambda: T0)))
    deps.pacer = deps.emergency_writer.pacer  # type: ignore[union-attr]
    batch = [
        record("m1", message("w1", change("BAKER-1", 1, status="10-8"))),
        record("m2", panic_message("wh-1", "ADAM-12")),
    ]
    # When the consumer takes the batch
    outcome = process_batch(batch, deps)
    # Then the panic's calls (the panic; for an inactive unit, its activation's read and write through the
    # unit path and the panic again) took the
    # slots ahead of the units' (no wait for the first, an interval for each next), and the unit change's
    # calls waited behind them
    assert outcome.panics_sent == 1
    urgent_calls = 4 if inactive else 1
    assert deps.emergency_writer.calls[:urgent_calls] == (  # type: ignore[union-attr]
        ["trigger_panic", "list_units", "upsert_units", "trigger_panic"] if inactive else ["trigger_panic"]
    )
    assert h.sleeps[: urgent_calls - 1] == [pytest.approx(0.5 * i) for i in range(1, urgent_calls)]
    assert h.sleeps[urgent_calls - 1] == pytest.approx(1.0 + 0.5 * urgent_calls)
