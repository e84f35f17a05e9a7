"""One Northca call per sender call (issue 18, item 3), against every plausible answer to a repeated call id:
retries, copies, answers lost after the call was made, answers lost before, a create the partner
failed, a close before the create, a late create, a dispatcher's edit and a dispatcher's delete."""

from __future__ import annotations

import pytest

from relay.consumer.calls import call_id
from relay.consumer.emergency_state import call_key
from relay.errors import NorthcaInvalidRequestError, NorthcaServerError, NorthcaTimeoutError
from tests.support.constants import GUILD, MDT
from tests.support.consumer import RecordingDeadLetters, record
from tests.support.emergencies import EmergencyHarness, MemoryNorthca, Repeated, call_message

MODES: list[Repeated] = ["conflict", "upsert", "duplicate"]


def harness(mode: Repeated = "conflict", **northca: object) -> EmergencyHarness:
    h = EmergencyHarness(MemoryNorthca(repeated=mode, **northca))  # type: ignore[arg-type]
    h.dead_letters = RecordingDeadLetters()
    return h


def posts(h: EmergencyHarness) -> list[dict[str, object]]:
    return [body for method, _, body in h.northca.call_requests if method == "POST"]


def test_call_id_is_the_source_and_the_key_or_a_digest_when_that_is_not_plain() -> None:
    assert call_id("sonoran", "1234") == "sonoran.1234"
    assert call_id("erlc:main", "42-1795867185") == "erlc:main.42-1795867185"
    odd = call_id("board", "call #7 / night")
    assert odd.startswith("board-") and len(odd) <= 64 and odd == call_id("board", "call #7 / night")
    assert call_id("board", "a" * 200) != call_id("board", "a" * 199)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("dispatch", "bot-7"), ("dispatch-bot", "7")),  # a hyphen in the source or in the key
        (("erlc:main", "42-1"), ("erlc:main-42", "1")),
        (("a", "b.c"), ("a-b", "c")),  # a dot in the key: the first dot still ends the source
        (("board", "x" * 70), ("board", "x" * 71)),  # both digests
        (("board", "x" * 70), ("board-x", "x" * 20)),  # a digest and a plain id
    ],
)
def test_two_sources_calls_never_share_an_id(one: tuple[str, str], other: tuple[str, str]) -> None:
    assert call_id(*one) != call_id(*other)


def test_a_plain_id_and_a_digest_id_never_meet() -> None:
    # A digest id holds no dot; a plain one always does (right after its source).
    digest = call_id("board", "call #7 / night")
    assert "." not in digest
    assert "." in call_id("board", digest)


def test_two_sources_whose_old_ids_met_each_make_their_own_call() -> None:
    # Given two sources whose calls' ids were both `dispatch-bot-7` (the second's create got a 409 and then
    # PATCHed the first source's call)
    h = harness("conflict")
    first = call_message("wh-1", "bot-7", source="dispatch", description="Fire at the docks")
    second = call_message("wh-2", "7", source="dispatch-bot", description="Traffic stop", seconds=1)
    # When both arrive
    assert h.run(record("m1", first), record("m2", second)) == set()
    # Then each is its own Northca call, and neither was patched by the other's event
    assert [body["id"] for body in posts(h)] == ["dispatch.bot-7", "dispatch-bot.7"]
    assert h.northca.call("dispatch.bot-7")["description"] == "Fire at the docks"
    assert h.northca.call("dispatch-bot.7")["description"] == "Traffic stop"
    assert [m for m, _, _ in h.northca.call_requests if m == "PATCH"] == []


def test_a_call_opened_under_the_old_id_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a call the relay created before ids had a dot (its record holds `cad-1234`)
    h = harness()
    monkeypatch.setattr("relay.consumer.call_desk.call_id", lambda source, key: f"{source}-{key}")
    assert h.run(record("m1", call_message("wh-1", "1234", location="1 Main St"))) == set()
    monkeypatch.undo()
    # When a later event of that sender call arrives
    assert h.run(record("m2", call_message("wh-2", "1234", 5, location="2 Oak Ave"))) == set()
    # Then it updates that call: no second call under the new id
    assert [body["id"] for body in posts(h)] == ["cad-1234"]
    assert h.northca.call("cad-1234")["location"] == "2 Oak Ave"
    assert h.northca.stored_calls(MDT, "cad.1234") == []


def test_a_new_call_is_created_once_with_its_fields_and_the_message_is_done() -> None:
    # Given a 911 call event
    h = harness()
    msg = call_message("wh-1", "1234", location="1 Main St", description="Fire", created_by="John Doe")
    # When the consumer gets it
    failed = h.run(record("m1", msg))
    # Then one call exists under the id the relay chose, with the event's fields, and nothing comes back
    assert failed == set()
    assert posts(h) == [
        {
            "id": "cad.1234",
            "description": "Fire",
            "location": "1 Main St",
            "status": "open",  # Northca's default, sent: the relay's own first status
            "created_by": "John Doe",
        }
    ]
    assert h.northca.call("cad.1234")["location"] == "1 Main St"
    assert h.outcome.calls_created == 1


@pytest.mark.parametrize("mode", MODES)
def test_ten_copies_of_a_call_make_one_call_in_one_batch_or_ten(mode: Repeated) -> None:
    h = harness(mode)
    msg = call_message("wh-1", "1234", location="1 Main St")
    # Given the same event ten times in one batch, then ten times more, one per batch
    assert h.run(*(record(f"m{i}", msg) for i in range(10))) == set()
    for i in range(10):
        assert h.run(record(f"n{i}", msg)) == set()
    # Then the partner got one POST and holds one call
    assert len(posts(h)) == 1
    assert len(h.northca.calls) == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_create_whose_answer_was_lost_is_found_not_made_twice(mode: Repeated) -> None:
    # Given a create the partner applied, then the answer lost (a timeout)
    h = harness(mode)
    h.northca.call_script = ["applied-then-timeout"]
    msg = call_message("wh-1", "1234", location="1 Main St")
    # When it is delivered, then delivered again a little later
    assert h.run(record("m1", msg)) == {"m1"}
    h.clock.advance(5)
    assert h.run(record("m1", msg, receive_count=2)) == set()
    # Then the relay looked for it (an empty PATCH) instead of creating it again: one call
    assert len(posts(h)) == 1
    assert ("PATCH", "cad.1234", {}) in h.northca.call_requests
    assert len(h.northca.calls) == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_create_that_may_still_land_waits_out_the_window_before_a_second_post(mode: Repeated) -> None:
    # Given a create whose answer was lost and which the partner has not applied yet
    h = harness(mode)
    h.northca.call_script = ["late"]
    msg = call_message("wh-1", "1234", location="1 Main St")
    assert h.run(record("m1", msg)) == {"m1"}
    # When it comes back before the late-request window has passed: the call is not there yet
    h.clock.advance(5)
    assert h.run(record("m1", msg, receive_count=2)) == {"m1"}
    # Then no second POST went out; the message waits until the window has passed
    assert len(posts(h)) == 1
    assert h.outcome.emergency_delays["m1"] > 5
    # And when the first create lands meanwhile, the next look finds it: still one call
    h.northca.land_late()
    h.clock.advance(h.outcome.emergency_delays["m1"])
    assert h.run(record("m1", msg, receive_count=3)) == set()
    assert len(posts(h)) == 1 and len(h.northca.calls) == 1


def test_a_create_that_never_landed_is_made_once_the_window_has_passed() -> None:
    h = harness("duplicate")
    h.northca.call_script = [NorthcaTimeoutError("POST timed out: ReadTimeoutError")]
    msg = call_message("wh-1", "1234", location="1 Main St")
    assert h.run(record("m1", msg)) == {"m1"}
    h.clock.advance(120)
    assert h.run(record("m1", msg, receive_count=2)) == set()
    assert len(posts(h)) == 2 and len(h.northca.calls) == 1


def test_an_answered_500_is_looked_for_and_created_again_at_once() -> None:
    # Given a partner that answers 500 to the first create (and did not make the call)
    h = harness("duplicate")
    h.northca.call_script = [NorthcaServerError("Internal Server Error", 500)]
    # When the call comes / Then the relay looks, finds nothing, and creates it in the same invocation
    assert h.run(record("m1", call_message("wh-1", "1234", location="1 Main St"))) == set()
    assert [m for m, _, _ in h.northca.call_requests] == ["POST", "PATCH", "POST"]
    assert len(h.northca.calls) == 1


def test_a_close_before_its_create_is_kept_and_the_call_is_created_closed() -> None:
    h = harness()
    # Given the "call removed" event first (it may not create a call), then the call itself
    assert h.run(record("m1", call_message("wh-2", "1234", 10, opens=False, status="closed"))) == set()
    assert h.northca.calls == []
    assert h.run(record("m2", call_message("wh-1", "1234", 0, location="1 Main St"))) == set()
    # Then one call, created closed
    assert h.northca.call("cad.1234")["status"] == "closed"
    assert len(posts(h)) == 1


def test_a_close_is_never_reopened_by_an_older_event_nor_by_a_late_copy_of_the_create() -> None:
    h = harness()
    create = call_message("wh-1", "1234", 0, location="1 Main St", status="open")
    assert h.run(record("m1", create)) == set()
    assert h.run(record("m2", call_message("wh-2", "1234", 10, opens=False, status="closed"))) == set()
    # When an older event, and a copy of the create received later (a sender's retry), come in
    older = call_message("wh-3", "1234", 5, status="open", description="more")
    late_copy = call_message("wh-1", "1234", 0, received=60, location="1 Main St", status="open")
    assert h.run(record("m3", older), record("m4", late_copy)) == set()
    # Then the call stays closed, the older description is still newer than nothing: it is written
    assert h.northca.call("cad.1234")["status"] == "closed"
    assert h.northca.call("cad.1234")["description"] == "more"
    assert len(posts(h)) == 1


def test_a_dispatchers_edit_is_not_reverted_by_an_older_change_but_a_newer_one_wins() -> None:
    h = harness()
    assert h.run(record("m1", call_message("wh-1", "1234", 0, priority="low"))) == set()
    # Given a dispatcher raising the priority in Northca (the clock is past every event so far)
    h.northca.edit_call("cad.1234", priority="high")
    # When an older event of the sender changes the priority / Then the dispatcher's value stays
    assert h.run(record("m2", call_message("wh-2", "1234", 30, priority="medium"))) == set()
    assert h.northca.call("cad.1234")["priority"] == "high"
    # When a newer one does / Then it is written
    h.clock.advance(100)
    assert h.run(record("m3", call_message("wh-3", "1234", 200, priority="critical"))) == set()
    assert h.northca.call("cad.1234")["priority"] == "critical"


def test_later_events_become_patches_of_only_what_changed() -> None:
    h = harness()
    assert h.run(record("m1", call_message("wh-1", "1234", 0, location="A", description="D"))) == set()
    assert h.run(record("m2", call_message("wh-2", "1234", 5, location="B", description="D"))) == set()
    patches = [body for method, _, body in h.northca.call_requests if method == "PATCH" and body]
    assert patches == [{"location": "B"}]
    assert h.outcome.calls_updated == 1


def test_a_call_a_dispatcher_deleted_is_not_created_again() -> None:
    h = harness()
    assert h.run(record("m1", call_message("wh-1", "1234", 0, location="A"))) == set()
    h.northca.calls.clear()
    assert h.run(record("m2", call_message("wh-2", "1234", 5, location="B"))) == set()
    assert h.run(record("m3", call_message("wh-3", "1234", 9, location="C"))) == set()
    assert h.northca.calls == [] and len(posts(h)) == 1


def test_a_call_the_partner_refuses_goes_to_the_dlq_with_its_reason() -> None:
    h = harness()
    h.northca.call_script = [NorthcaInvalidRequestError("description too long", 400)]
    assert h.run(record("m1", call_message("wh-1", "1234", location="A"))) == set()
    assert h.dead_letters is not None
    assert h.dead_letters.reasons() == {"m1": "partner refused the call: description too long"}
    assert h.outcome.emergencies_not_delivered == 1


def test_without_the_empty_patch_read_updates_still_go_out_from_what_the_relay_knows() -> None:
    h = harness(empty_patch="refused")
    assert h.run(record("m1", call_message("wh-1", "1234", 0, location="A"))) == set()
    assert h.run(record("m2", call_message("wh-2", "1234", 5, location="B", status="closed"))) == set()
    assert h.northca.call("cad.1234") | {} == h.northca.call("cad.1234")
    assert h.northca.call("cad.1234")["location"] == "B"
    assert h.northca.call("cad.1234")["status"] == "closed"


def test_a_consumer_that_loses_the_record_to_another_reads_again_and_sends_nothing_twice() -> None:
    # Given another consumer creating the call between this one's read of the record and its write
    h = harness("duplicate")
    msg = call_message("wh-1", "1234", location="A")
    key = call_key(MDT, GUILD, "cad", "1234")
    fired: list[bool] = []

    def race(written: object) -> None:
        if not fired and written == key:
            fired.append(True)
            # the other consumer, on the same store and partner, does the whole job first
            saved = h.emergency_state.before_write
            h.emergency_state.before_write = None
            EmergencyHarness.run(_sharing(h), record("o1", msg))
            h.emergency_state.before_write = saved

    h.emergency_state.before_write = race
    assert h.run(record("m1", msg)) == set()
    assert fired
    assert len(posts(h)) == 1 and len(h.northca.calls) == 1
    # The loser read the record again and found the call created with its values: nothing to send
    assert [m for m, _, _ in h.northca.call_requests] == ["POST"]


def _sharing(h: EmergencyHarness) -> EmergencyHarness:
    twin = EmergencyHarness(h.northca)
    twin.clock = h.clock
    twin.emergency_state = h.emergency_state
    return twin


def test_the_last_receive_of_a_call_not_delivered_goes_to_the_dlq_with_its_reason() -> None:
    h = harness()
    h.max_receive_count = 5
    h.northca.call_script = [NorthcaServerError("Bad Gateway", 502)] * 3
    assert h.run(record("m1", call_message("wh-1", "1234", location="A"), receive_count=5)) == set()
    assert h.dead_letters is not None
    assert h.dead_letters.reasons()["m1"].startswith("not delivered after 5 receives: partner: Bad Gateway")


def test_a_close_outranks_a_newer_status_of_the_sender_in_any_order() -> None:
    # Given a close, and an event dated later that says "open" (a sender's stale copy), in either order
    for first, second in [("close", "open"), ("open", "close")]:
        h = harness()
        key = f"k-{first}"
        events = {
            "close": call_message("wh-c", key, 5, opens=False, status="closed"),
            "open": call_message("wh-o", key, 9, status="open", location="A"),
        }
        assert h.run(record("m1", events[first])) == set()
        assert h.run(record("m2", events[second])) == set()
        # Then the call is closed
        assert h.northca.call(f"cad.{key}")["status"] == "closed", first


def test_a_degraded_look_for_a_lost_create_takes_the_lease_so_a_stale_consumer_cannot_reopen_it() -> None:
    # Given reads refused, and a create of call 7 whose answer was lost
    h = harness(empty_patch="refused")
    h.northca.call_script = ["applied-then-timeout"]
    create = call_message("wh-1", "7", 0, location="A")
    assert h.run(record("m1", create)) == {"m1"}
    h.clock.advance(30)
    close = call_message("wh-2", "7", 1, opens=False, status="closed")
    # When a consumer reads call 7's record with another call's, and at its write for that other call
    # a second consumer looks for call 7, finds it and closes it
    other = call_message("wh-3", "other", 0, opens=False, location="B")
    fired: list[bool] = []

    def second(key: object) -> None:
        if not fired and key == call_key(MDT, GUILD, "cad", "other"):
            fired.append(True)
            h.emergency_state.before_write = None
            assert _sharing(h).run(record("s1", close)) == set()

    h.emergency_state.before_write = second
    assert h.run(record("m3", other), record("m1", create, 2)) == set()
    # Then the first consumer, going on from what it read, did not send the create's values again
    assert fired
    assert h.northca.call("cad.7")["status"] == "closed"


def test_a_copy_that_finds_a_create_in_flight_waits_until_that_consumer_is_done_not_a_few_seconds() -> None:
    # Given one consumer between its lease and its POST, and a copy of the event at another consumer
    h = harness()
    msg = call_message("wh-1", "1234", location="A")
    original = h.northca.create_call
    seen: list[object] = []

    def meanwhile(*args: object, **kwargs: object) -> object:
        twin = _sharing(h)
        seen.append(twin.run(record("copy", msg)))
        seen.append(twin.outcome.emergency_delays.get("copy"))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    h.northca.create_call = meanwhile  # type: ignore[method-assign]
    assert h.run(record("m1", msg)) == set()
    # Then the copy came back once, after the lease's deadline (the invocation's reserve, 15 s): a few
    # seconds at a time, the copies of a slow create used up their receives and reached the DLQ
    assert seen == [{"copy"}, 15]
