"""The consumer's batch logic with an in-memory state store and an in-memory partner (no sockets).

The fakes keep the contracts of the real ports: `MemoryPartner` stores "" for any field an upsert
leaves out (as Northca does), keeps `updated_at`, refuses a body with a repeated id, and `edit`s units
as another writer would; `InMemoryUnitStateStore` is the conditional-write contract DynamoDB keeps
(tests/unit/relay/ports/test_state.py runs both).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from relay.consumer.pipeline import retry_delay
from relay.consumer.unit_state import FieldState, InMemoryUnitStateStore, UnitKey
from relay.errors import (
    NorthcaAuthError,
    NorthcaConnectionError,
    NorthcaError,
    NorthcaForbiddenError,
    NorthcaNotFoundError,
    NorthcaServerError,
    NorthcaThrottledError,
    NorthcaTimeoutError,
    NorthcaUnreachableError,
)
from relay.memory import StaticSecrets
from relay.models import UNIT_FIELDS
from relay.northca.writer import PartnerWriter
from relay.ports.partner import PartnerUnit, UpsertAnswer
from relay_devtools.files.template import queue_settings
from tests.support.constants import GUILD, MDT, NOW, OTHER_MDT, ROOT
from tests.support.consumer import (
    CONSUMER_START,
    FULL,
    Harness,
    MemoryPartner,
    RecordingDeadLetters,
    RecordingPublisher,
    change,
    message,
    record,
)
from tests.support.logs import captured_logs, log_records

# ------------------------------------------------------------------ deliver changes, not snapshots


def test_consumer_a_status_change_keeps_every_field_another_writer_set() -> None:
    # Given CAD-77 stored by another writer: J. Doe, badge 77, Patrol, SGT, 10-7
    h = Harness()
    h.partner.edit("CAD-77", officer_name="J. Doe", officer_badge="77", department="Patrol", rank="SGT")
    h.partner.edit("CAD-77", status="10-7")
    # When a webhook sets only its status
    assert h.run(record("m1", message("w1", change("CAD-77", 70, status="10-8")))) == set()
    # Then the PUT carried the partner's record with the new status, and the MDT lost nothing
    assert h.partner.puts() == [
        {
            "id": "CAD-77",
            "officer_name": "J. Doe",
            "officer_badge": "77",
            "department": "Patrol",
            "rank": "SGT",
        }
        | {"status": "10-8"}
    ]
    assert h.partner.unit("CAD-77")["officer_name"] == "J. Doe"
    assert h.partner.violations == []


def test_consumer_a_new_unit_carries_only_the_fields_a_change_set_and_never_null() -> None:
    h = Harness()
    assert h.run(record("m1", message("w1", change("NEW-1", 1, status="10-8", rank=None)))) == set()
    # A cleared field is the partner's own unset value, "", never null
    assert h.partner.puts() == [{"id": "NEW-1", "status": "10-8", "rank": ""}]
    assert h.partner.violations == []


def test_consumer_a_cleared_field_is_sent_as_empty_text() -> None:
    h = Harness()
    h.run(record("m1", message("w1", change("A", 1, **FULL, status="10-8"))))
    h.run(record("m2", message("w2", change("A", 2, rank=None))))
    assert h.partner.puts()[-1] == {"id": "A", **FULL, "status": "10-8", "rank": ""}
    assert all(value is not None for unit in h.partner.puts() for value in unit.values())


def test_consumer_an_older_change_arriving_late_does_not_regress_a_field() -> None:
    h = Harness()
    h.run(record("m1", message("w1", change("A", 10, status="10-8"))))
    # When an older change of the same field arrives, with a newer value of another field
    assert h.run(record("m2", message("w2", change("A", 5, status="10-7", rank="SGT")))) == set()
    # Then status keeps its newest value and rank takes the new one
    assert h.partner.unit("A")["status"] == "10-8"
    assert h.partner.unit("A")["rank"] == "SGT"


def test_consumer_a_duplicate_delivery_reads_the_partner_and_sends_nothing() -> None:
    h = Harness()
    first = message("w1", change("A", 1, status="10-8"))
    h.run(record("m1", first))
    # When the same webhook arrives again under another message id (a sender retry)
    assert h.run(record("m2", first)) == set()
    # Then the partner already holds it: one GET, no second PUT
    assert len(h.partner.requests) == 1
    assert len(h.partner.lists) == 2


def test_consumer_merges_a_batch_into_one_put_per_mdt_without_repeated_ids() -> None:
    h = Harness()
    records = [record(f"m{i}", message(f"w{i}", change(f"U{i % 3}", i, status=str(i)))) for i in range(12)]
    records.append(record("mx", message("wx", change("U0", 1, status="x"), mdt=OTHER_MDT)))
    assert h.run(*records) == set()
    assert sorted(len(r[2]) for r in h.partner.requests) == [1, 3]
    assert len(h.partner.lists) == 2  # one read per MDT and guild
    assert h.partner.violations == []
    assert [h.partner.unit(f"U{i}")["status"] for i in range(3)] == ["9", "10", "11"]


def test_consumer_chunks_requests_to_the_configured_size() -> None:
    h = Harness()
    h.max_units = 2
    records = [record(f"m{i}", message(f"w{i}", change(f"U{i}", 1, status="10-8"))) for i in range(5)]
    assert h.run(*records) == set()
    assert [len(r[2]) for r in h.partner.requests] == [2, 2, 1]


def test_consumer_unreadable_message_fails_alone() -> None:
    h = Harness()
    good = record("m1", message("w1", change("A", 1, status="10-8")))
    bad = record("m2", '{"v": 1, "changes": []}')
    assert h.run(good, bad) == {"m2"}
    assert h.partner.unit("A")["status"] == "10-8"


# ------------------------------------------------------------------ other writers


def test_consumer_a_dispatchers_newer_edit_is_not_reverted_by_a_change_to_another_field() -> None:
    # Given T-1 written by the relay (10-8), then set to 10-6 by a dispatcher in the MDT
    h = Harness()
    h.run(record("m1", message("w1", change("T-1", 1, officer_name="A. Old", status="10-8"))))
    h.partner.edit("T-1", status="10-6")
    # When the relay's next change is to T-1's name
    assert h.run(record("m2", message("w2", change("T-1", 70, officer_name="A. New")))) == set()
    # Then the dispatcher's status stays
    assert h.partner.unit("T-1") == {
        **dict.fromkeys(UNIT_FIELDS, ""),
        "officer_name": "A. New",
        "status": "10-6",
    }


def test_consumer_a_change_older_than_another_writers_edit_is_superseded() -> None:
    # Given a dispatcher's edit at NOW+60s, and a relay change from NOW+30s that arrives after it
    h = Harness()
    h.partner.edit("A", status="10-6")
    assert h.run(record("m1", message("w1", change("A", 30, status="10-8")))) == set()
    # Then the partner keeps the dispatcher's value, and the change is not pending any more
    assert h.partner.unit("A")["status"] == "10-6"
    assert h.partner.requests == []
    assert h.outcome.superseded == 1
    # And a later change of the relay (newer than the edit) is written
    h.run(record("m2", message("w2", change("A", 90, status="10-97"))))
    assert h.partner.unit("A")["status"] == "10-97"


def test_consumer_a_change_newer_than_another_writers_edit_is_written() -> None:
    h = Harness()
    h.partner.edit("A", status="10-6", officer_name="D. Spatch")
    assert h.run(record("m1", message("w1", change("A", 61, status="10-8")))) == set()
    assert h.partner.unit("A") == {
        **dict.fromkeys(UNIT_FIELDS, ""),
        "officer_name": "D. Spatch",
        "status": "10-8",
    }


def test_consumer_a_tie_with_another_writers_edit_goes_to_the_other_writer() -> None:
    h = Harness()
    h.partner.edit("A", status="10-6")  # updated_at = NOW + 60 s
    h.run(record("m1", message("w1", change("A", CONSUMER_START, status="10-8"))))
    assert h.partner.unit("A")["status"] == "10-6"


def test_consumer_an_edit_seen_once_keeps_its_time_after_the_relay_writes_the_unit() -> None:
    # Given a dispatcher's status at NOW+60s, seen by the relay when it wrote the unit's name at NOW+61s
    h = Harness()
    h.partner.edit("A", status="10-6")
    h.run(record("m1", message("w1", change("A", 61, officer_name="N"))))
    h.clock.advance(100)
    # When a relay status from NOW+62s arrives (newer than the dispatcher's edit, older than our write)
    h.run(record("m2", message("w2", change("A", 62, status="10-8"))))
    # Then it is written: the edit was dated by the partner's updated_at when the relay first saw it
    assert h.partner.unit("A")["status"] == "10-8"


def test_consumer_recognises_its_own_put_landing_late_and_asserts_the_newest_value_again() -> None:
    # Given 10-8 then 10-6 written by the relay, and then the first PUT "landing late" at the partner
    h = Harness()
    h.run(record("m1", message("w1", change("A", 1, status="10-8"))))
    h.run(record("m2", message("w2", change("A", 2, status="10-6"))))
    h.partner.edit("A", status="10-8")
    # When any message mentioning the unit is handled (here: a redriven copy of the first)
    assert h.run(record("m1-redriven", message("w1", change("A", 1, status="10-8")))) == set()
    # Then the relay's newest value is asserted again: 10-8 was its own, not another writer's edit
    assert h.partner.unit("A")["status"] == "10-6"
    assert h.outcome.reasserted == 1


def test_consumer_its_own_late_put_is_undone_even_after_a_dispatcher_edits_another_field() -> None:
    # Given 10-8 then 10-6 written by the relay, the first PUT landing late, and then, after the
    # late-write window (300 s) but before the relay's recheck, a dispatcher renaming the unit
    h = Harness()
    h.run(record("m1", message("w1", change("A", 1, status="10-8"))))
    h.run(record("m2", message("w2", change("A", 2, status="10-6"))))
    h.partner.edit("A", status="10-8")  # the late landing
    h.clock.advance(310)
    h.partner.edit("A", officer_name="J. Doe")  # updated_at moves past the landing
    # When the relay looks at the unit again (the recheck)
    assert h.run(record("m1-recheck", message("w1", change("A", 1, status="10-8")))) == set()
    # Then its own stale 10-8 is recognised and 10-6 written again; the dispatcher's name stays
    assert h.partner.unit("A")["status"] == "10-6"
    assert h.partner.unit("A")["officer_name"] == "J. Doe"


def test_consumer_a_value_the_relay_sent_long_ago_set_by_a_dispatcher_is_the_dispatchers() -> None:
    # Given 10-8 then 10-6 written by the relay; an hour later a dispatcher sets 10-8 by hand
    h = Harness()
    h.run(record("m1", message("w1", change("A", 1, status="10-8"))))
    h.run(record("m2", message("w2", change("A", 2, status="10-6"))))
    h.clock.advance(3600)
    h.partner.edit("A", status="10-8")
    # When the relay next handles the unit
    h.run(record("m3", message("w3", change("A", 3, rank="PO"))))
    # Then the dispatcher's 10-8 stays (outside the late-write window, it cannot be a PUT of ours)
    assert h.partner.unit("A")["status"] == "10-8"


# ------------------------------------------------------------------ event times and order


def test_consumer_a_far_future_event_time_is_clamped_and_does_not_pin_the_field() -> None:
    # Given a change dated 2099
    h = Harness()
    future = message("w1", change("A", 0, status="10-8"))
    future = future.model_copy(
        update={"changes": [future.changes[0].model_copy(update={"at": NOW.replace(year=2099)})]}
    )
    assert h.run(record("m1", future)) == set()
    assert h.outcome.clamped == 1
    # When three genuine later updates arrive
    for i, status in enumerate(["10-6", "10-7", "10-97"], start=1):
        h.run(record(f"m{i + 1}", message(f"w{i + 1}", change("A", 10 * i, status=status), received=10 * i)))
    # Then each was written: the 2099 change counted as received at NOW
    assert h.partner.unit("A")["status"] == "10-97"
    assert len(h.partner.requests) == 4


@pytest.mark.parametrize(
    ("values", "expected"),
    [(["10-8", "10-7"], "10-7"), (["10-7", "10-8"], "10-8"), ([None, "x"], "x"), (["x", None], "")],
)
def test_consumer_for_one_unit_in_one_request_the_later_entry_wins(
    values: list[str | None], expected: str
) -> None:
    h = Harness()
    both = message("w1", *(change("A", 1, status=value) for value in values))
    assert h.run(record("m1", both)) == set()
    assert h.partner.unit("A")["status"] == expected


# ------------------------------------------------------------------ refusals, confirmation, degrade


def test_consumer_a_refused_change_never_blocks_later_ones() -> None:
    # Given a partner that refuses the unit once (a value it will not take), with a DLQ port
    h = Harness()
    h.dead_letters = RecordingDeadLetters()
    h.partner.refuse = {"A"}
    assert h.run(record("m1", message("w1", change("A", 1, status="BAD")))) == set()
    assert list(h.dead_letters.reasons()) == ["m1"]
    # When the partner takes the unit again and a later valid change arrives
    h.partner.refuse = set()
    assert h.run(record("m2", message("w2", change("A", 2, rank="PO")))) == set()
    # Then it is written, and the refused value is nowhere: not in state, not in the PUT
    assert h.partner.puts()[-1] == {"id": "A", "rank": "PO"}
    assert "BAD" not in str(h.stored("A").fields["status"].base)


def test_consumer_an_older_valid_change_after_a_refused_newer_one_is_written() -> None:
    h = Harness()
    h.dead_letters = RecordingDeadLetters()
    h.partner.refuse = {"A"}
    h.run(record("m1", message("w1", change("A", 5, status="BAD"))))
    h.partner.refuse = set()
    # The refused change was never accepted: the newest accepted one is this older one
    h.run(record("m2", message("w2", change("A", 3, status="10-8"))))
    assert h.partner.unit("A")["status"] == "10-8"


@pytest.mark.parametrize("listed", [[], None], ids=["no-data", "some-ids"])
def test_consumer_a_2xx_that_does_not_list_every_unit_is_not_taken_as_written(
    listed: list[str] | None,
) -> None:
    h = Harness()

    class Forgetful(MemoryPartner):
        def upsert_units(self, mdt: str, guild: str, units: Any, actor: str | None = None) -> UpsertAnswer:
            super().upsert_units(mdt, guild, units, actor)
            return UpsertAnswer(frozenset() if listed is not None else frozenset([units[0].unit_id]))

    h.partner = Forgetful(h.clock)
    records = [record(f"m{i}", message(f"w{i}", change(f"U{i}", 1, status="10-8"))) for i in range(2)]
    # When the 2xx lists none (or only the first) of the units sent
    failed = h.run(*records)
    # Then the units it did not list stay pending: their messages are retried, and it is counted
    assert failed == ({"m0", "m1"} if listed is not None else {"m1"})
    assert h.outcome.unconfirmed == len(failed)


def test_consumer_without_a_list_endpoint_sends_only_what_it_knows_and_never_null() -> None:
    # Given a partner whose list endpoint answers 404
    h = Harness()
    h.partner.list_script = [NorthcaNotFoundError("Not found", 404)] * 5
    h.run(record("m1", message("w1", change("A", 1, officer_name="N", status="10-8"))))
    h.run(record("m2", message("w2", change("A", 2, rank="PO"))))
    # Then each PUT carries the relay's own values, nothing it does not know and no null
    assert h.partner.puts() == [
        {"id": "A", "officer_name": "N", "status": "10-8"},
        {"id": "A", "officer_name": "N", "status": "10-8", "rank": "PO"},
    ]
    assert h.outcome.degraded


def test_consumer_a_failed_read_of_the_partner_gives_that_mdt_back_and_writes_nothing() -> None:
    h = Harness(attempts=1)
    h.partner.list_script = [NorthcaServerError("HTTP 500", 500)]
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")))) == {"m1"}
    assert h.partner.requests == []
    assert h.state.items == {}


# ------------------------------------------------------------------ retries and failures


def test_consumer_retries_a_5xx_with_backoff_then_succeeds() -> None:
    h = Harness()
    h.partner.script = [NorthcaServerError("HTTP 500", 500), NorthcaServerError("HTTP 502", 502), None]
    h.run(record("m1", message("w1", change("A", 1, status="10-8"))))
    assert h.sleeps == [0.2, 0.4]
    assert h.stored("A").fields["status"].base is not None
    assert h.partner.unit("A")["status"] == "10-8"


def test_consumer_after_an_attempt_that_may_land_late_the_unit_is_looked_at_again_after_the_window() -> None:
    # Given a PUT that timed out (it may still land, late) and then went through on a retry
    h = Harness(late_write_window_seconds=120)
    h.partner.script = [NorthcaTimeoutError("PUT timed out"), None]
    failed = h.run(record("m1", message("w1", change("A", 1, status="10-8"))))
    # Then the unit is written, and its message comes back once no attempt of it can land any more
    assert h.partner.unit("A")["status"] == "10-8"
    assert failed == {"m1"}
    assert h.outcome.recheck_message_ids == {"m1"}
    assert h.visibility.calls == [(["rh-m1"], 120)]


def test_consumer_a_failed_put_that_may_land_late_brings_its_message_back_only_after_the_window() -> None:
    # Given a PUT that failed for this invocation (500, then a timeout) and may still land
    h = Harness(late_write_window_seconds=120)
    h.partner.script = [NorthcaServerError("HTTP 500", 500), NorthcaTimeoutError("PUT timed out")] * 2
    failed = h.run(record("m1", message("w1", change("A", 1, status="10-8"))))
    # Then its message comes back after the late-write window, not at once: had it come back sooner,
    # a newer change written meanwhile and this message acknowledged, the late landing would stay
    # (found by the property test: a cleared field came back over a newer value)
    assert failed == {"m1"}
    assert h.outcome.recheck_message_ids == {"m1"}
    assert h.visibility.calls == [(["rh-m1"], 120)]


def test_consumer_a_throttle_never_brings_back_sooner_a_message_whose_put_may_land_late() -> None:
    h = Harness(late_write_window_seconds=120)
    h.partner.script = [NorthcaTimeoutError("PUT timed out"), NorthcaThrottledError("Slow down", 429, 5)]
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")))) == {"m1"}
    assert h.visibility.calls == [(["rh-m1"], 120)]


def test_consumer_after_a_blip_the_unit_is_written_again_within_seconds_and_a_recheck_guards_the_window() -> (
    None
):
    # Given a PUT that failed (500, then a timeout: it may still land late) and the queue for rechecks
    h = Harness(late_write_window_seconds=120)
    h.rechecks = RecordingPublisher()
    first = message("w1", change("A", 1, status="10-8"))
    h.partner.script = [NorthcaServerError("HTTP 500", 500), NorthcaTimeoutError("PUT timed out")] * 2
    assert h.run(record("m1", first)) == {"m1"}
    # Then the message comes back in 2 s (not after the window), and a recheck of A is due after it
    assert h.visibility.calls == [(["rh-m1"], 2)]
    assert h.outcome.recheck_message_ids == set()
    assert h.outcome.counts(1)["RechecksScheduled"] == 1
    [(rechecks, delay)] = h.rechecks.sent
    assert delay == 125
    assert [(c.id, c.fields) for m in rechecks for c in m.changes] == [("A", {})]
    # When the retry goes through, and a newer change is written after it
    h.clock.advance(2)
    assert h.run(record("m1", first, receive_count=2)) == set()
    assert h.run(record("m2", message("w2", change("A", 30, status="10-6", rank="PO"), received=30))) == set()
    # And the first PUT lands late over them, then the recheck comes
    h.partner.apply(MDT, {"id": "A", "status": "10-8"})
    h.clock.advance(120)
    assert h.run(record("r1", rechecks[0])) == set()
    # Then the newest values are back
    assert (h.partner.unit("A")["status"], h.partner.unit("A")["rank"]) == ("10-6", "PO")
    assert h.outcome.reasserted == 2


def test_consumer_when_a_recheck_cannot_be_sent_the_message_waits_out_the_window_itself() -> None:
    h = Harness(late_write_window_seconds=120)
    h.rechecks = RecordingPublisher()
    h.rechecks.down = True
    h.partner.script = [NorthcaTimeoutError("PUT timed out"), None]
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")))) == {"m1"}
    assert h.visibility.calls == [(["rh-m1"], 120)]


@pytest.mark.parametrize(("receives", "seconds"), [(1, 2), (2, 16), (3, 128), (4, 900), (5, 900)])
def test_consumer_a_unit_not_written_is_tried_again_soon_then_less_often(receives: int, seconds: int) -> None:
    # A dispatcher waits seconds, not 20 s, after a partner blip; a partner outage still takes at least as
    # long to reach the DLQ (maxReceiveCount 5) as the queue's own visibility timeout did (5 x 370 s):
    # 2 + 16 + 128 + 900 + 900 s (test_consumer_retries_reach_the_dlq_no_sooner_than_the_queue_would).
    h = Harness()
    h.partner.script = [NorthcaUnreachableError("PUT could not connect")] * 3
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")), receive_count=receives)) == {"m1"}
    assert h.visibility.calls == [(["rh-m1"], seconds)]


@pytest.mark.parametrize(
    "error",
    [NorthcaServerError("HTTP 500", 500), NorthcaTimeoutError("PUT timed out")],
    ids=["5xx", "timeout"],
)
def test_consumer_a_unit_given_back_after_a_failure_is_tried_again_within_seconds(
    error: NorthcaError,
) -> None:
    # Given a partner that fails every attempt of this invocation (a 500, or a timeout: a PUT that may
    # still land, so a recheck is also scheduled after the late-write window)
    h = Harness()
    h.rechecks = RecordingPublisher()
    h.partner.script = [error] * 3
    # When the unit's message is given back the first time
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")))) == {"m1"}
    # Then it is back within a few seconds (a player's command must reach the MDT within 10 s), and the
    # late-write protection is the recheck's, not a long delay of the message itself
    [(handles, seconds)] = h.visibility.calls
    assert handles == ["rh-m1"] and seconds <= 5
    if isinstance(error, NorthcaTimeoutError):
        assert [delay for _, delay in h.rechecks.sent] == [h.settings.late_write_window_seconds + 5]


@pytest.mark.parametrize("receives", [1, 3, 5])
def test_consumer_a_throttled_unit_waits_the_retry_after_not_the_failure_schedule(receives: int) -> None:
    # Given a partner that answers 429 with Retry-After 45 on a message already received several times
    h = Harness()
    h.partner.script = [NorthcaThrottledError("Too Many Requests", 429, 45.0)]
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")), receive_count=receives)) == {"m1"}
    # Then it comes back after the partner's Retry-After, never sooner (nor the failure schedule's 2 s)
    assert h.visibility.calls == [(["rh-m1"], 45)]


def test_consumer_retries_reach_the_dlq_no_sooner_than_the_queue_would() -> None:
    # Given the template's queue (maxReceiveCount, visibility timeout) and the default retry schedule
    queue = queue_settings(ROOT / "template.yaml")
    settings = Harness().settings
    # When a message fails at every receive until SQS dead-letters it
    waited = [retry_delay(settings, receive) for receive in range(1, queue.max_receive_count + 1)]
    # Then the first retry is within seconds, each later one waits longer, and the whole outage takes at
    # least as long as maxReceiveCount visibility timeouts (an outage of a few minutes never dead-letters)
    assert waited[0] <= 5
    assert waited == sorted(waited)
    assert sum(waited) >= queue.max_receive_count * queue.visibility_timeout
    assert max(waited) <= settings.max_visibility_delay_seconds


def test_consumer_a_connection_never_made_is_no_reason_to_look_again() -> None:
    from relay.errors import NorthcaUnreachableError

    h = Harness()
    h.partner.script = [NorthcaUnreachableError("PUT could not connect"), None]
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")))) == set()
    assert h.visibility.calls == []


@pytest.mark.parametrize(
    "error",
    [
        NorthcaServerError("HTTP 500", 500),
        NorthcaTimeoutError("PUT timed out"),
        NorthcaConnectionError("PUT connection dropped"),
    ],
    ids=["5xx", "timeout", "dropped"],
)
def test_consumer_gives_back_every_message_behind_a_failed_put(error: NorthcaError) -> None:
    h = Harness()
    h.partner.script = [error] * 10
    records = [
        record("m1", message("w1", change("A", 1, status="10-8"))),
        record("m2", message("w2", change("A", 2, rank="PO"))),
        record("m3", message("w3", change("B", 1, status="10-8"), mdt=OTHER_MDT)),
    ]
    assert h.run(*records) == {"m1", "m2", "m3"}
    # Three attempts for the first request, none for the other MDT (the partner is down)
    assert len(h.partner.requests) == 3
    # Nothing is recorded as written: the values sent are recorded as sent, the baseline is unknown
    assert h.stored("A").fields["status"].base is None
    assert [s.value for s in h.stored("A").fields["status"].sent] == ["10-8"]


def test_consumer_after_an_uncertain_put_the_next_handling_writes_the_newest_values() -> None:
    # Given a PUT whose outcome is unknown (timeout) after it was applied
    h = Harness()
    newest = message("w1", change("A", 5, **FULL, status="10-6"))
    h.partner.script = [NorthcaTimeoutError("PUT timed out")] * 3
    assert h.run(record("m1", newest)) == {"m1"}
    # When the message comes back
    assert h.run(record("m1", newest, receive_count=2)) == set()
    assert h.partner.unit("A") == {**FULL, "status": "10-6"}


def test_consumer_waits_for_a_short_retry_after_within_the_invocation() -> None:
    h = Harness()
    h.partner.script = [NorthcaThrottledError("Too Many Requests", 429, 0.5), None]
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")))) == set()
    assert h.sleeps == [0.5]
    assert h.visibility.calls == []


def test_consumer_long_retry_after_stops_the_partner_and_delays_only_the_failed_messages() -> None:
    h = Harness()
    h.partner.script = [NorthcaThrottledError("Too Many Requests", 429, 30.0)]
    records = [
        record("m1", message("w1", change("A", 1, status="10-8"))),
        record("m2", message("w2", change("B", 1, status="10-8"), mdt=OTHER_MDT)),
        record("m3", message("w3", change("A", 0, status="old"))),
    ]
    failed = h.run(*records)
    assert h.sleeps == []
    assert len(h.partner.requests) == 1
    assert failed == {"m1", "m2", "m3"}
    assert h.visibility.calls == [(["rh-m1", "rh-m2", "rh-m3"], 30)]


def test_consumer_429_without_retry_after_uses_the_configured_delay() -> None:
    h = Harness(throttle_delay_seconds=7)
    h.partner.script = [NorthcaThrottledError("Service Unavailable", 503, None)]
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")))) == {"m1"}
    assert h.visibility.calls == [(["rh-m1"], 7)]


def test_consumer_never_sleeps_past_the_remaining_time() -> None:
    h = Harness(max_inline_wait_seconds=1.0)
    h.remaining = 15_300
    h.partner.script = [NorthcaThrottledError("Too Many Requests", 429, 0.5), None]
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")))) == {"m1"}
    assert h.sleeps == []
    assert h.visibility.calls == [(["rh-m1"], 1)]


def test_consumer_starts_no_partner_call_near_the_invocation_timeout() -> None:
    h = Harness()
    h.remaining = 14_000
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")))) == {"m1"}
    assert (h.partner.requests, h.partner.lists) == ([], [])


def test_consumer_bisects_a_400_to_the_refused_units_and_writes_the_rest() -> None:
    h = Harness()
    h.partner.refuse = {"U2", "U5"}
    records = [record(f"m{i}", message(f"w{i}", change(f"U{i}", 1, status="10-8"))) for i in range(8)]
    # Without a DLQ port the refused units' messages are reported failed (the DLQ after maxReceiveCount)
    assert h.run(*records) == {"m2", "m5"}
    assert sorted(uid for (_, uid) in h.partner.units) == ["U0", "U1", "U3", "U4", "U6", "U7"]
    assert h.partner.violations == []


def test_consumer_message_with_a_refused_unit_and_a_good_one_fails_but_the_good_unit_is_written() -> None:
    h = Harness()
    h.partner.refuse = {"BAD"}
    both = message("w1", change("BAD", 1, status="x"), change("GOOD", 1, status="10-8"))
    assert h.run(record("m1", both), record("m2", message("w2", change("GOOD", 2, rank="PO")))) == {"m1"}
    assert h.partner.unit("GOOD") == {**dict.fromkeys(UNIT_FIELDS, ""), "status": "10-8", "rank": "PO"}


def test_consumer_sends_refused_units_messages_to_the_dlq_at_once_with_the_partners_reason() -> None:
    h = Harness()
    h.dead_letters = RecordingDeadLetters()
    h.partner.refuse = {"U1"}
    records = [record(f"m{i}", message(f"w{i}", change(f"U{i}", 1, status="10-8"))) for i in range(3)]
    assert h.run(*records) == set()
    assert [(x.message_id, x.body) for x in h.dead_letters.letters] == [("m1", records[1]["body"])]
    assert h.dead_letters.reasons() == {
        "m1": f"partner refused unit 'U1' of MDT {MDT}: Each unit must include a non-empty id"
    }
    assert sorted(uid for (_, uid) in h.partner.units) == ["U0", "U2"]


def test_consumer_dead_letters_an_unreadable_message_with_what_is_wrong() -> None:
    h = Harness()
    h.dead_letters = RecordingDeadLetters()
    good = record("m2", message("w2", change("A", 1, status="10-8")))
    assert h.run(record("m1", '{"source": "cad"}'), good) == set()
    assert [x.message_id for x in h.dead_letters.letters] == ["m1"]
    assert "mdt_id: Field required" in h.dead_letters.reasons()["m1"]


def test_consumer_keeps_a_message_for_retry_when_another_of_its_units_failed_for_now() -> None:
    h = Harness(attempts=1)
    h.dead_letters = RecordingDeadLetters()
    h.partner.refuse = {"BAD"}
    h.partner.script = [None, NorthcaServerError("Internal server error", 500)] * 3
    bad = message("w1", change("BAD", 1, status="x"))
    other = message("w2", change("LATER", 1, status="10-8"), mdt=OTHER_MDT)
    bad_again = message("w3", change("BAD", 2, rank="PO"))
    failed = h.run(record("m1", bad), record("m2", other), record("m3", bad_again))
    assert failed == {"m2"}
    assert sorted(h.dead_letters.reasons()) == ["m1", "m3"]


def test_consumer_a_message_the_dlq_did_not_take_comes_back_as_a_failure() -> None:
    h = Harness()
    h.dead_letters = RecordingDeadLetters()
    h.dead_letters.refuse = {"m1"}
    h.partner.refuse = {"U1"}
    records = [record(f"m{i}", message(f"w{i}", change(f"U{i}", 1, status="10-8"))) for i in (1, 2)]
    assert h.run(*records) == {"m1"}
    assert h.dead_letters.letters == []


class KeyCheckingPartner(MemoryPartner):
    """The partner, taking only the key `accepted`; every key sent is recorded."""

    def __init__(self, clock: Callable[[], Any], accepted: str | None) -> None:
        super().__init__(clock)
        self.accepted = accepted
        self.keys: list[str] = []


def key_checking_client(partner: KeyCheckingPartner) -> Callable[[str], Any]:
    class Client:
        def __init__(self, key: str) -> None:
            self.partner_key = key

        def _check(self) -> None:
            partner.keys.append(self.partner_key)
            if self.partner_key != partner.accepted:
                raise NorthcaAuthError("Unauthorized", 401)

        def upsert_units(self, mdt: str, guild: str, units: Any, actor: str | None = None) -> UpsertAnswer:
            self._check()
            return partner.upsert_units(mdt, guild, units, actor)

        def list_units(self, mdt: str, guild: str) -> dict[str, PartnerUnit]:
            self._check()
            return partner.list_units(mdt, guild)

    return Client


def test_consumer_fetches_a_rotated_partner_key_once_and_carries_on() -> None:
    h = Harness()
    partner = KeyCheckingPartner(h.clock, accepted="new")
    h.partner = partner
    secrets = StaticSecrets({"northca/partner-key": "old"})
    writer = PartnerWriter(secrets, "northca/partner-key", key_checking_client(partner))
    writer.client()
    secrets.values["northca/partner-key"] = "new"
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8"))), writer=writer) == set()
    # The read was refused with the old key, the key fetched again once, and everything went on
    assert partner.keys == ["old", "new", "new"]
    assert secrets.fetches == [("northca/partner-key", False), ("northca/partner-key", True)]


def test_consumer_wrong_partner_key_stops_after_one_fresh_fetch_and_gives_everything_back() -> None:
    h = Harness()
    partner = KeyCheckingPartner(h.clock, accepted=None)
    secrets = StaticSecrets({"northca/partner-key": "wrong"})
    writer = PartnerWriter(secrets, "northca/partner-key", key_checking_client(partner))
    records = [
        record("m1", message("w1", change("A", 1, status="10-8"))),
        record("m2", message("w2", change("B", 1, status="10-8"), mdt=OTHER_MDT)),
    ]
    assert h.run(*records, writer=writer) == {"m1", "m2"}
    assert [f for f in secrets.fetches if f[1]] == [("northca/partner-key", True)]
    assert partner.requests == []
    assert h.outcome.counts(2)["PartnerMisconfigured"] == 1  # the alarm's metric


def test_consumer_403_fails_that_mdt_only() -> None:
    h = Harness()
    calls: list[str] = []

    class LinkChecking(MemoryPartner):
        def list_units(self, mdt: str, guild: str) -> dict[str, PartnerUnit]:
            calls.append(mdt)
            if mdt == MDT:
                raise NorthcaForbiddenError("MDT not linked to this guild", 403)
            return super().list_units(mdt, guild)

    h.partner = LinkChecking(h.clock)
    records = [
        record("m1", message("w1", change("A", 1, status="10-8"))),
        record("m2", message("w2", change("B", 1, status="10-8"), mdt=OTHER_MDT)),
    ]
    with captured_logs() as buffer:
        assert h.run(*records) == {"m1"}
    assert calls == [MDT, OTHER_MDT]
    assert h.partner.unit("B", OTHER_MDT)["status"] == "10-8"
    assert h.outcome.counts(2)["PartnerMisconfigured"] == 1  # the alarm's metric
    # And the unit given back says why, in the partner's words and with what to do (issue 21: the
    # delivery page and `relay sign --wait` showed only "not written this time")
    [line] = [r for r in log_records(buffer) if r["message"] == "unit outcomes"]
    given_back = {u["unit_id"]: u for u in line["units"]}["A"]
    assert given_back["outcome"] == "given back"
    assert given_back["detail"] == (
        f"the partner refuses MDT {MDT} for guild {GUILD} (403 MDT not linked to this guild): link the MDT "
        "to that guild in Northca, or correct guild_id in relay.toml"
    )


def test_consumer_state_store_outage_gives_back_the_whole_batch_and_sends_nothing() -> None:
    h = Harness()

    def broken(*args: Any) -> Any:
        from relay.errors import UnitStateUnavailableError

        raise UnitStateUnavailableError("BatchGetItem: EndpointConnectionError")

    h.state.read_many = broken  # type: ignore[method-assign]
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")))) == {"m1"}
    assert h.partner.requests == []


# ------------------------------------------------------------------ convergence under races


class RacingStore(InMemoryUnitStateStore):
    """Runs `between` once, right before the first write after a PUT: another consumer acting mid-flight."""

    def __init__(self) -> None:
        super().__init__()
        self.between: Callable[[], None] | None = None
        self.writes = 0

    def write(self, key: UnitKey, fields: Mapping[str, FieldState], expected_version: int) -> int | None:
        self.writes += 1
        if self.writes == 2 and self.between is not None:
            action, self.between = self.between, None
            action()
        return super().write(key, fields, expected_version)


def test_consumer_plans_again_when_another_consumer_wrote_while_our_put_was_in_flight() -> None:
    # Given consumer 1 about to record its (older) PUT, after consumer 2 wrote a newer value...
    h = Harness()
    h.state = RacingStore()
    newer = message("w2", change("A", 9, status="10-6"))

    def other_consumer() -> None:
        other = Harness()
        other.clock, other.state, other.partner = h.clock, h.state, h.partner
        other.run(record("m2", newer))
        # ...and consumer 1's PUT of 10-8 "lands" after it
        h.partner.edit("A", status="10-8")

    h.state.between = other_consumer
    # When consumer 1 finishes
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")))) == set()
    # Then its lost conditional write made it read and plan again: the newest value is back
    assert h.partner.unit("A")["status"] == "10-6"


def test_consumer_killed_after_its_put_landed_converges_when_its_messages_are_redriven() -> None:
    # Given consumer 1 whose PUT of an older value lands after consumer 2 wrote the newer one, and which
    # is killed before it can record anything (the window the old protocol left open)
    h = Harness()

    class Killed(BaseException):
        pass

    class LandsLateThenKilled(MemoryPartner):
        def upsert_units(self, mdt: str, guild: str, units: Any, actor: str | None = None) -> UpsertAnswer:
            other = Harness()
            other.clock, other.state, other.partner = h.clock, h.state, h.partner
            other.run(record("m2", message("w2", change("A", 9, status="10-6"))))
            h.partner.upsert_units(mdt, guild, units, actor)
            raise Killed

    with pytest.raises(Killed):
        h.run(record("m1", message("w1", change("A", 1, status="10-8"))), writer=LandsLateThenKilled(h.clock))
    assert h.partner.unit("A")["status"] == "10-8"
    # When its message is redriven (a new message id, receive count 1)
    assert h.run(record("m1-redriven", message("w1", change("A", 1, status="10-8")))) == set()
    # Then the stale value is recognised as the relay's own late write and the newest is back
    assert h.partner.unit("A")["status"] == "10-6"
