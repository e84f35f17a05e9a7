"""The consumer's batch logic with an in-memory state store and an in-memory partner (no sockets).

The fakes here keep the contracts of the real ports: `MemoryPartner` stores "" for any field an
upsert leaves out (as Northca does) and refuses a body with a repeated id; `InMemoryUnitStateStore`
is the same conditional-write contract as DynamoDB (tests/unit/test_state.py runs both).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from relay.config import ConsumerConfig
from relay.consumer.pipeline import ConsumerDeps, process_batch
from relay.consumer.unit_state import UnitKey
from relay.errors import (
    NorthcaAuthError,
    NorthcaConnectionError,
    NorthcaError,
    NorthcaForbiddenError,
    NorthcaServerError,
    NorthcaThrottledError,
    NorthcaTimeoutError,
)
from relay.memory import InMemoryUnitStateStore, StaticSecrets
from relay.northca.client import UpsertResult
from relay.northca.writer import PartnerWriter
from tests.support.constants import GUILD, MDT, OTHER_MDT
from tests.support.consumer import (
    FULL,
    MemoryPartner,
    RecordingDeadLetters,
    RecordingVisibility,
    change,
    message,
    record,
)


def failures(answer: dict[str, list[dict[str, str]]]) -> set[str]:
    return {item["itemIdentifier"] for item in answer["batchItemFailures"]}


class Harness:
    """A consumer with in-memory ports, a clock of remaining time and a recorded sleep."""

    def __init__(self, **settings: Any) -> None:
        self.partner = MemoryPartner()
        self.state = InMemoryUnitStateStore()
        self.visibility = RecordingVisibility()
        self.dead_letters: RecordingDeadLetters | None = None
        self.sleeps: list[float] = []
        self.remaining = 60_000
        self.settings = ConsumerConfig(**settings)
        self.max_units = 100

    def deps(self, writer: Any = None) -> ConsumerDeps:
        return ConsumerDeps(
            writer=writer or self.partner,
            state=self.state,
            visibility=self.visibility,
            dead_letters=self.dead_letters,
            settings=self.settings,
            max_units_per_request=self.max_units,
            remaining_ms=lambda: self.remaining,
            sleep=self.sleeps.append,
        )

    def run(self, *records: dict[str, Any], writer: Any = None) -> set[str]:
        outcome = process_batch(list(records), self.deps(writer))
        return failures(outcome.response([r["messageId"] for r in records]))

    def stored(self, unit: str, mdt: str = MDT) -> Any:
        return self.state.items[UnitKey(mdt, GUILD, unit)]


# ------------------------------------------------------------------ merging and no blanking


def test_consumer_status_only_change_keeps_every_other_field() -> None:
    # Given a unit written with its full record
    h = Harness()
    assert h.run(record("m1", message("w1", change("ADAM-12", 1, **FULL, status="10-8")))) == set()
    # When a later webhook carries only its status
    assert h.run(record("m2", message("w2", change("ADAM-12", 2, status="10-6")))) == set()
    # Then the PUT carried the full record and the partner still has name, badge, department and rank
    assert h.partner.unit("ADAM-12") == {**FULL, "status": "10-6"}
    assert h.partner.requests[-1][2] == [{"id": "ADAM-12", **FULL, "status": "10-6"}]
    assert h.partner.violations == []


def test_consumer_older_change_arriving_late_does_not_regress_a_field() -> None:
    # Given the newest status already written
    h = Harness()
    h.run(record("m1", message("w1", change("A", 10, status="10-8"))))
    puts = len(h.partner.requests)
    # When an older change of the same field arrives, with a newer value of another field
    assert h.run(record("m2", message("w2", change("A", 5, status="10-7", rank="SGT")))) == set()
    # Then status keeps its newest value and rank takes the new one
    assert h.partner.unit("A")["status"] == "10-8"
    assert h.partner.unit("A")["rank"] == "SGT"
    assert len(h.partner.requests) == puts + 1


def test_consumer_duplicate_delivery_sends_nothing_and_succeeds() -> None:
    # Given a message already written
    h = Harness()
    first = message("w1", change("A", 1, status="10-8"))
    h.run(record("m1", first))
    # When the same webhook arrives again under another message id (a sender retry)
    assert h.run(record("m2", first)) == set()
    # Then no second PUT is made: the stored version was already sent
    assert len(h.partner.requests) == 1


def test_consumer_merges_a_batch_into_one_put_per_mdt_without_repeated_ids() -> None:
    # Given twelve messages over three units of one MDT and one unit of another
    h = Harness()
    records = [record(f"m{i}", message(f"w{i}", change(f"U{i % 3}", i, status=str(i)))) for i in range(12)]
    records.append(record("mx", message("wx", change("U0", 1, status="x"), mdt=OTHER_MDT)))
    # When consumed as one batch
    assert h.run(*records) == set()
    # Then one PUT per MDT, each id once, each unit holding its newest status
    assert sorted(len(r[2]) for r in h.partner.requests) == [1, 3]
    assert h.partner.violations == []
    assert [h.partner.unit(f"U{i}")["status"] for i in range(3)] == ["9", "10", "11"]


def test_consumer_chunks_requests_to_the_configured_size() -> None:
    h = Harness()
    h.max_units = 2
    records = [record(f"m{i}", message(f"w{i}", change(f"U{i}", 1, status="10-8"))) for i in range(5)]
    assert h.run(*records) == set()
    assert [len(r[2]) for r in h.partner.requests] == [2, 2, 1]


def test_consumer_unreadable_message_fails_alone() -> None:
    # Given a batch with one body that is not a queue message
    h = Harness()
    good = record("m1", message("w1", change("A", 1, status="10-8")))
    bad = record("m2", '{"v": 1, "changes": []}')
    # When consumed, then only the unreadable one is reported (it reaches the DLQ after maxReceiveCount)
    assert h.run(good, bad) == {"m2"}
    assert h.partner.unit("A")["status"] == "10-8"


# ------------------------------------------------------------------ retries and failures


def test_consumer_retries_a_5xx_with_backoff_then_succeeds() -> None:
    # Given a partner that answers 500 twice, then 200
    h = Harness()
    h.partner.script = [NorthcaServerError("HTTP 500", 500), NorthcaServerError("HTTP 502", 502), None]
    # When a unit is consumed
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")))) == set()
    # Then it was retried after 0.2 s and 0.4 s (no real sleep) and written
    assert h.sleeps == [0.2, 0.4]
    assert h.stored("A").sent_version == h.stored("A").version


@pytest.mark.parametrize(
    "error",
    [
        NorthcaServerError("HTTP 500", 500),
        NorthcaTimeoutError("PUT timed out"),
        NorthcaConnectionError("PUT connection dropped"),
    ],
    ids=["5xx", "timeout", "dropped"],
)
def test_consumer_gives_back_every_message_behind_a_failed_put_and_marks_the_unit_dirty(
    error: NorthcaError,
) -> None:
    # Given a partner that keeps failing, and two MDTs to write
    h = Harness()
    h.partner.script = [error] * 10
    records = [
        record("m1", message("w1", change("A", 1, status="10-8"))),
        record("m2", message("w2", change("A", 2, rank="PO"))),
        record("m3", message("w3", change("B", 1, status="10-8"), mdt=OTHER_MDT)),
    ]
    # When consumed
    assert h.run(*records) == {"m1", "m2", "m3"}
    # Then three attempts were made for the first request and none for the other MDT (partner is down)
    assert len(h.partner.requests) == 3
    # And the unit is dirty: version ahead of sent_version, so a later delivery re-sends it
    assert h.stored("A").unsent


def test_consumer_after_an_uncertain_put_a_later_old_duplicate_still_resends_the_newest_record() -> None:
    # Given a PUT whose outcome is unknown (timeout), after which the messages came back
    h = Harness()
    newest = message("w1", change("A", 5, **FULL, status="10-6"))
    h.partner.script = [NorthcaTimeoutError("PUT timed out")] * 3
    assert h.run(record("m1", newest)) == {"m1"}
    # When an old change of the unit arrives next (first delivery, nothing new in it)
    assert h.run(record("m9", message("w0", change("A", 1, status="10-8")))) == set()
    # Then the newest record was sent anyway, because the unit was marked dirty
    assert h.partner.unit("A") == {**FULL, "status": "10-6"}


def test_consumer_redelivered_message_resends_even_when_state_says_sent() -> None:
    # Given a unit recorded as sent
    h = Harness()
    body = message("w1", change("A", 1, status="10-8"))
    h.run(record("m1", body))
    # When the same message comes back (receive count 2: an earlier attempt's outcome is unknown)
    assert h.run(record("m1", body, receive_count=2)) == set()
    # Then its unit is PUT again
    assert len(h.partner.requests) == 2


def test_consumer_waits_for_a_short_retry_after_within_the_invocation() -> None:
    h = Harness()
    h.partner.script = [NorthcaThrottledError("Too Many Requests", 429, 0.5), None]
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")))) == set()
    assert h.sleeps == [0.5]
    assert h.visibility.calls == []


def test_consumer_long_retry_after_stops_the_partner_and_delays_only_the_failed_messages() -> None:
    # Given a 429 asking for 30 s, and units in two MDTs
    h = Harness()
    h.partner.script = [NorthcaThrottledError("Too Many Requests", 429, 30.0)]
    records = [
        record("m1", message("w1", change("A", 1, status="10-8"))),
        record("m2", message("w2", change("B", 1, status="10-8"), mdt=OTHER_MDT)),
        record("m3", message("w3", change("A", 0, status="old"))),
    ]
    # When consumed
    failed = h.run(*records)
    # Then no sleep, one call only, and every message behind an unwritten unit is given back in 30 s
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
    # Given 15.3 s left, a 15 s floor, and a short Retry-After of 0.5 s
    h = Harness(max_inline_wait_seconds=1.0)
    h.remaining = 15_300
    h.partner.script = [NorthcaThrottledError("Too Many Requests", 429, 0.5), None]
    # When throttled, then it does not wait (it would end below the floor) and gives the message back
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")))) == {"m1"}
    assert h.sleeps == []
    assert h.visibility.calls == [(["rh-m1"], 1)]


def test_consumer_starts_no_put_near_the_invocation_timeout() -> None:
    h = Harness()
    h.remaining = 14_000
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")))) == {"m1"}
    assert h.partner.requests == []


def test_consumer_bisects_a_400_to_the_refused_units_and_writes_the_rest() -> None:
    # Given eight units of which the partner refuses two, one message each
    h = Harness()
    h.partner.refuse = {"U2", "U5"}
    records = [record(f"m{i}", message(f"w{i}", change(f"U{i}", 1, status="10-8"))) for i in range(8)]
    # When consumed
    failed = h.run(*records)
    # Then exactly the refused units' messages fail (on their way to the DLQ), the others are written
    assert failed == {"m2", "m5"}
    assert sorted(uid for (_, uid) in h.partner.units) == ["U0", "U1", "U3", "U4", "U6", "U7"]
    assert h.partner.violations == []


def test_consumer_message_with_a_refused_unit_and_a_good_one_fails_but_the_good_unit_is_written() -> None:
    h = Harness()
    h.partner.refuse = {"BAD"}
    both = message("w1", change("BAD", 1, status="x"), change("GOOD", 1, status="10-8"))
    assert h.run(record("m1", both), record("m2", message("w2", change("GOOD", 2, rank="PO")))) == {"m1"}
    assert h.partner.unit("GOOD") == {**dict.fromkeys(FULL), "status": "10-8", "rank": "PO"}


def test_consumer_sends_refused_units_messages_to_the_dlq_at_once_with_the_partners_reason() -> None:
    # Given a consumer with a DLQ port, and a partner that refuses one unit of three
    h = Harness()
    h.dead_letters = RecordingDeadLetters()
    h.partner.refuse = {"U1"}
    records = [record(f"m{i}", message(f"w{i}", change(f"U{i}", 1, status="10-8"))) for i in range(3)]
    # When consumed
    failed = h.run(*records)
    # Then the refused unit's message is in the DLQ with its body unchanged and why, and is not retried
    assert failed == set()
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
    # Given messages for a refused unit, and one for a unit whose MDT is unavailable right now
    h = Harness()
    h.dead_letters = RecordingDeadLetters()
    h.partner.refuse = {"BAD"}
    h.partner.script = [None, NorthcaServerError("Internal server error", 500)] * 3
    bad = message("w1", change("BAD", 1, status="x"))
    other = message("w2", change("LATER", 1, status="10-8"), mdt=OTHER_MDT)
    bad_again = message("w3", change("BAD", 2, rank="PO"))
    # When consumed with a settings budget of one attempt, so the 500 is final in this invocation
    h.settings = ConsumerConfig(attempts=1)
    failed = h.run(record("m1", bad), record("m2", other), record("m3", bad_again))
    # Then the messages behind BAD alone go to the DLQ; the unavailable unit's message comes back
    assert failed == {"m2"}
    assert sorted(h.dead_letters.reasons()) == ["m1", "m3"]


def test_consumer_a_message_the_dlq_did_not_take_comes_back_as_a_failure() -> None:
    h = Harness()
    h.dead_letters = RecordingDeadLetters()
    h.dead_letters.refuse = {"m1"}
    h.partner.refuse = {"U1"}
    records = [record(f"m{i}", message(f"w{i}", change(f"U{i}", 1, status="10-8"))) for i in (1, 2)]
    # Not lost: reported failed, it reaches the DLQ through maxReceiveCount instead
    assert h.run(*records) == {"m1"}
    assert h.dead_letters.letters == []


def test_consumer_fetches_a_rotated_partner_key_once_and_carries_on() -> None:
    # Given a writer whose cached key was rotated away: the partner answers 401 to the old key
    h = Harness()
    secrets = StaticSecrets({"northca/partner-key": "old"})
    keys_seen: list[str] = []

    class KeyCheckingClient:
        def __init__(self, key: str) -> None:
            self.partner_key = key

        def upsert_units(self, mdt: str, guild: str, units: Any, actor: str | None = None) -> UpsertResult:
            keys_seen.append(self.partner_key)
            if self.partner_key != "new":
                raise NorthcaAuthError("Unauthorized", 401)
            return h.partner.upsert_units(mdt, guild, units, actor)

    writer = PartnerWriter(secrets, "northca/partner-key", KeyCheckingClient)  # type: ignore[arg-type]
    writer.client()
    secrets.values["northca/partner-key"] = "new"
    # When a batch is consumed
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8"))), writer=writer) == set()
    # Then the key was fetched again once (force_fetch) and the PUT went through with the new one
    assert keys_seen == ["old", "new"]
    assert secrets.fetches == [("northca/partner-key", False), ("northca/partner-key", True)]


def test_consumer_wrong_partner_key_stops_after_one_fresh_fetch_and_gives_everything_back() -> None:
    h = Harness()
    secrets = StaticSecrets({"northca/partner-key": "wrong"})

    class RefusingClient:
        def __init__(self, key: str) -> None:
            self.partner_key = key

        def upsert_units(self, *args: Any, **kwargs: Any) -> UpsertResult:
            raise NorthcaAuthError("Unauthorized", 401)

    writer = PartnerWriter(secrets, "northca/partner-key", RefusingClient)  # type: ignore[arg-type]
    records = [
        record("m1", message("w1", change("A", 1, status="10-8"))),
        record("m2", message("w2", change("B", 1, status="10-8"), mdt=OTHER_MDT)),
    ]
    assert h.run(*records, writer=writer) == {"m1", "m2"}
    assert [f for f in secrets.fetches if f[1]] == [("northca/partner-key", True)]


def test_consumer_403_fails_that_mdt_only() -> None:
    # Given an MDT that is not linked to the guild, and another that is
    h = Harness()
    calls: list[str] = []

    class LinkCheckingWriter:
        def upsert_units(self, mdt: str, guild: str, units: Any, actor: str | None = None) -> UpsertResult:
            calls.append(mdt)
            if mdt == MDT:
                raise NorthcaForbiddenError("MDT not linked to this guild", 403)
            return h.partner.upsert_units(mdt, guild, units, actor)

    records = [
        record("m1", message("w1", change("A", 1, status="10-8"))),
        record("m2", message("w2", change("B", 1, status="10-8"), mdt=OTHER_MDT)),
    ]
    # When consumed, then only the unlinked MDT's message comes back
    assert h.run(*records, writer=LinkCheckingWriter()) == {"m1"}
    assert calls == [MDT, OTHER_MDT]


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
    """Runs `between` once, right before the first mark_sent: another consumer acting mid-flight."""

    def __init__(self) -> None:
        super().__init__()
        self.between: Callable[[], None] | None = None

    def mark_sent(self, key: UnitKey, version: int) -> bool:
        if self.between is not None:
            action, self.between = self.between, None
            action()
        return super().mark_sent(key, version)


def test_consumer_resends_when_another_consumer_wrote_and_sent_while_our_put_was_in_flight() -> None:
    # Given consumer 1 about to mark its (older) record sent, after consumer 2 wrote and sent a newer one
    h = Harness()
    h.state = RacingStore()
    newer = message("w2", change("A", 9, status="10-6"))

    def other_consumer() -> None:
        other = Harness()
        other.state, other.partner = h.state, h.partner
        other.run(record("m2", newer))
        # Northca now holds 10-6, but consumer 1's PUT of 10-8 "lands" after it:
        h.partner.units[(MDT, "A")]["status"] = "10-8"

    h.state.between = other_consumer
    # When consumer 1 finishes
    assert h.run(record("m1", message("w1", change("A", 1, status="10-8")))) == set()
    # Then its failed mark made it read again and re-send the newest record
    assert h.partner.unit("A")["status"] == "10-6"
