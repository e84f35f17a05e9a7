"""A request of a call whose answer was lost may still land, within the late-request window: no newer
value of that call goes out before that window has passed (docs/emergencies.md, "One Northca call per
sender call"). Hypothesis found the first case (test_emergency_properties.py: mode conflict, reads
refused); these are its steps, explicit, on the injected clock."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from relay.consumer.calls import call_id
from relay.messages import QueueMessage
from tests.support.consumer import RecordingDeadLetters, record
from tests.support.emergencies import EmergencyHarness, MemoryNorthca, call_message

# The late-request window (60 s, the default) and the invocation's reserve (15 s) the lease adds to it.
LEASE_SECONDS = 60 + 15


def harness(reads: Literal["record", "refused"]) -> EmergencyHarness:
    h = EmergencyHarness(MemoryNorthca(repeated="conflict", empty_patch=reads))
    h.dead_letters = RecordingDeadLetters()
    return h


def until_done(h: EmergencyHarness, messages: dict[str, QueueMessage], receives: int = 2) -> None:
    """The messages given back come back after their delay, until none is left (at most 10 rounds)."""
    left = dict(messages)
    for n in range(receives, receives + 10):
        if not left:
            return
        failed = h.run(*(record(m, body, n) for m, body in left.items()))
        delays = h.outcome.emergency_delays
        h.clock.advance(max([1, *(delays.get(m, 1) for m in failed)]))
        left = {m: body for m, body in left.items() if m in failed}
    raise AssertionError(f"still not done: {sorted(left)}")


def values_sent(h: EmergencyHarness, target: str) -> list[dict[str, Any]]:
    return [body for method, call, body in h.northca.call_requests if call == target and body]


def test_a_lost_look_for_a_lost_create_lands_before_the_close_is_sent_so_the_call_ends_closed() -> None:
    # Given reads refused (the partner answers an empty PATCH 400), and a create of call c1 that the
    # partner applied but whose answer was lost
    h = harness("refused")
    target = call_id("cad", "c1")
    create = call_message("wh-4", "c1", 0, created_by="caller")
    h.northca.call_script = ["applied-then-timeout"]
    assert h.run(record("m4", create)) == {"m4"}
    # When the create comes back with the sender's close 5 s later: the relay looks for the call by a
    # PATCH of the create's values, the partner holds that PATCH to land later (its answer lost)
    h.clock.advance(5)
    close = call_message("wh-6", "c1", 3, opens=False, status="closed")
    h.northca.call_script = ["late"]
    h.run(record("m4", create, 2), record("m6", close))
    # And that held PATCH {status: open} lands a second later, well within the late-request window
    h.clock.advance(1)
    assert h.northca.land_late() == 1
    until_done(h, {"m4": create, "m6": close}, receives=3)
    # Then the call ends closed: the close went out only once the held PATCH could no longer land
    assert h.northca.call(target)["status"] == "closed"
    assert values_sent(h, target)[-1] == {"status": "closed"}
    assert h.dead_letters is not None and h.dead_letters.letters == []


@pytest.mark.parametrize("reads", ["record", "refused"])
def test_an_update_whose_answer_was_lost_is_not_overtaken_by_a_newer_one_of_the_same_field(
    reads: Literal["record", "refused"],
) -> None:
    # Given call c1 created
    h = harness(reads)
    target = call_id("cad", "c1")
    assert h.run(record("m1", call_message("wh-1", "c1", 0, description="first"))) == set()
    # When the partner holds a PATCH {description: A} to land later (its answer lost)
    h.clock.advance(5)
    a = call_message("wh-2", "c1", 5, opens=False, description="A")
    # (with reads, the PATCH {} before it is answered; refused, it is refused before the partner applies)
    h.northca.call_script = [None, "late"] if reads == "record" else ["late"]
    h.run(record("m2", a))
    # And a newer description B comes while that PATCH may still land, and the held PATCH then lands
    h.clock.advance(2)
    b = call_message("wh-3", "c1", 7, opens=False, description="B")
    h.run(record("m3", b))
    h.clock.advance(1)
    assert h.northca.land_late() == 1
    until_done(h, {"m2": a, "m3": b})
    # Then the call holds B, the newest: B went out, or out again, once A could no longer land
    assert h.northca.call(target)["description"] == "B"
    assert values_sent(h, target)[-1] == {"description": "B"}


def test_a_late_request_never_lands_after_the_window_in_the_harness() -> None:
    # Given a PATCH the partner holds to land later
    h = harness("record")
    target = call_id("cad", "c1")
    assert h.run(record("m1", call_message("wh-1", "c1", 0, description="first"))) == set()
    h.northca.call_script = [None, "late"]
    h.run(record("m2", call_message("wh-2", "c1", 5, opens=False, description="A")))
    # When the late-request window has passed and the partner gets its next request
    h.clock.advance(LEASE_SECONDS)
    h.northca.edit_call(target, location="dispatch")
    # Then the held PATCH has landed (within the window, before anything sent after it): the contract
    # allows no later landing, and `land_late` has nothing left to land
    assert h.northca.call(target)["description"] == "A"
    assert h.northca.land_late() == 0
