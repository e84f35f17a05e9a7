"""A `;panic` held for a player the roster does not hold yet is never dropped with a warning: once its
hold has run out, the poll (or a newer command held over it) puts it in the DLQ with its reason."""

from __future__ import annotations

import pytest

from relay.erlc.held import load_held
from relay.errors import ErlcRateLimitedError, QueueUnavailableError
from relay.messages import QueueMessage
from tests.support.consumer import RecordingDeadLetters
from tests.support.night import Night

HOLD = 300  # the erlc-events source's default hold_seconds


def held_panic(retry_after: float) -> tuple[Night, RecordingDeadLetters]:
    """A night where PRC's rate limit holds the polls, and a player who just joined presses ;panic."""
    night = Night()
    night.prc.join("30", "1A-07", "Lindqvist_30")
    night.poll()
    night.consume()
    dlq = RecordingDeadLetters()
    night.poller.dead_letters = dlq
    night.ingress.dead_letters = dlq
    night.prc.faults.append(ErlcRateLimitedError("rate limited", retry_after=retry_after, bucket="global"))
    night.wait(60)
    night.poll()
    rookie = night.prc.join("33", "1A-33", "Rookie")
    assert night.command(rookie, ";panic").panics == 0  # held
    return night, dlq


def test_held_a_panic_whose_unit_is_found_after_its_hold_is_dead_lettered_with_its_reason() -> None:
    # Given a held panic, and polls held by PRC's rate limit past the panic's hold
    night, dlq = held_panic(retry_after=HOLD + 20)
    # When the first poll after the hold finds the player's unit
    night.wait(HOLD + 21)
    night.poll()
    night.consume()
    # Then no panic is sent late, and the DLQ holds it, in its delivery's name, saying who, when and why
    assert night.northca.panics == []
    [letter] = dlq.letters
    assert letter.reason.startswith("panic of ER:LC player 33 (server main) (source erlc) pressed 2026-")
    assert f"held {HOLD} s for a player not on the roster yet" in letter.reason
    assert "presses ;panic again" in letter.reason
    body = QueueMessage.model_validate_json(letter.body)
    assert body.source == "erlc" and body.webhook_id and not body.panics
    # And the held command is gone: the next poll dead-letters nothing more
    night.wait(60)
    night.poll()
    assert len(dlq.letters) == 1


def test_held_a_dlq_that_refuses_keeps_the_held_panic_for_the_next_poll() -> None:
    night, dlq = held_panic(retry_after=HOLD + 20)
    night.wait(HOLD + 21)
    # Given a DLQ that refuses the letter
    dlq.refuse = {f"undelivered:{webhook}:0" for webhook in _webhooks(night)}
    # When the poll finds the unit, then it fails (nothing stored) rather than drop the panic
    with pytest.raises(QueueUnavailableError):
        night.poll()
    assert dlq.letters == []
    # And the next poll, with the DLQ back, dead-letters it
    dlq.refuse = set()
    night.wait(10)
    night.poll()
    assert len(dlq.letters) == 1


def test_held_a_newer_command_held_over_an_expired_panic_dead_letters_it() -> None:
    # Given a held panic whose hold has run out, polls still held
    night, dlq = held_panic(retry_after=HOLD * 2)
    night.wait(HOLD + 1)
    # When the same player types a status command (held over it: the lookup is still held)
    night.command(night.prc.players[-1], ";10-8")
    # Then the expired panic is in the DLQ with its reason, in the new delivery's name
    [letter] = dlq.letters
    assert letter.reason.startswith("panic of ER:LC player 33 (server main) (source erlc) pressed")


def test_held_a_status_command_that_expires_is_dropped_as_before() -> None:
    # Given a held status command (not a panic) and polls held past its hold
    night = Night()
    night.prc.join("30", "1A-07", "Lindqvist_30")
    night.poll()
    dlq = RecordingDeadLetters()
    night.poller.dead_letters = dlq
    night.prc.faults.append(ErlcRateLimitedError("rate limited", retry_after=HOLD + 20, bucket="global"))
    night.wait(60)
    night.poll()
    night.command(night.prc.join("33", "1A-33", "Rookie"), ";10-6")
    # When the poll finds the unit after the hold, then nothing is dead-lettered (the player's status
    # is the game's again: policy)
    night.wait(HOLD + 21)
    night.poll()
    assert dlq.letters == []


def _webhooks(night: Night) -> list[str]:
    return [c.webhook_id or "" for c in load_held(night.store.get("roster#main", "held#33"))]


def held_civilian(command: str) -> tuple[Night, RecordingDeadLetters]:
    """A night where PRC's rate limit holds the lookups a while, and a civilian who just joined types
    `command` (held: the lookup may not ask PRC who they are)."""
    night = Night()
    night.prc.join("30", "1A-07", "Lindqvist_30")
    night.poll()
    dlq = RecordingDeadLetters()
    night.poller.dead_letters = dlq
    night.ingress.dead_letters = dlq
    night.prc.faults.append(ErlcRateLimitedError("rate limited", retry_after=30, bucket="global"))
    night.wait(60)
    night.poll()
    civilian = night.prc.join("50", "", "Civ", team="Civilian")
    held = night.command(civilian, command)
    assert (held.panics, held.messages) == (0, 0)
    assert load_held(night.store.get("roster#main", "held#50"))
    return night, dlq


def test_held_a_panic_whose_player_a_later_lookup_sees_as_a_civilian_is_dead_lettered_at_once() -> None:
    # Given a civilian's ;panic held while PRC could not be asked
    night, dlq = held_civilian(";panic")
    # When, the rate limit over, their next command's lookup sees them as a Civilian
    night.wait(31)
    night.command(night.prc.players[-1], ";10-8")
    # Then the held panic is not dropped with the held list: the DLQ holds it with that reason
    [letter] = dlq.letters
    assert letter.reason.startswith("panic of ER:LC player 50 (server main) (source erlc) pressed 2026-")
    assert "not an on-duty unit (team Civilian)" in letter.reason
    assert "presses ;panic again" in letter.reason
    # And nothing is held any more, nothing was sent to the MDT, and no poll dead-letters it twice
    assert night.store.get("roster#main", "held#50") is None
    night.consume()
    assert night.northca.panics == []
    night.wait(60)
    night.poll()
    assert len(dlq.letters) == 1


def test_held_a_civilians_second_panic_is_refused_and_the_held_one_dead_lettered() -> None:
    # Given a civilian's ;panic held while PRC could not be asked
    night, dlq = held_civilian(";panic")
    # When they press ;panic again once the lookup can see them
    night.wait(31)
    accepted = night.command(night.prc.players[-1], ";panic")
    # Then the new press is refused (as ever), and the held one is in the DLQ: one letter, none lost
    assert accepted.label.endswith("(refused: not an on-duty unit (team Civilian))")
    [letter] = dlq.letters
    assert "not an on-duty unit (team Civilian)" in letter.reason


def test_held_a_civilians_held_status_command_is_dropped_as_before() -> None:
    night, dlq = held_civilian(";10-6")
    night.wait(31)
    night.command(night.prc.players[-1], ";10-8")
    assert night.store.get("roster#main", "held#50") is None
    assert dlq.letters == []
