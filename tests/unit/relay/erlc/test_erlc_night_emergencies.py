"""A game night's emergencies, judged by what the dispatcher sees in Northca (tests/support/night.py: the
poll, the Event Webhook through the ingress, and the consumer's call and panic desks on one clock):
911 calls from the roster poll and from the webhook are one Northca call, answers that say little
close nothing, and a `;panic` is one panic of the typing player's unit."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.consumer.calls import call_id
from relay.erlc.call_sync import KEYLESS_POLLS
from relay.errors import ErlcError, ErlcOfflineError, ErlcRateLimitedError, ErlcUnavailableError
from relay.ports.erlc import ErlcCall, ErlcPlayer
from tests.support.logs import captured_logs, log_records
from tests.support.night import Night

CIVILIAN = ErlcPlayer(name="CivCaller", player_id="900", team="Civilian")


def on_duty(*cops: tuple[str, str, str]) -> Night:
    """A night whose officers (player id, callsign, name) are on the MDT, with a civilian on the server."""
    night = Night()
    for player_id, callsign, name in cops:
        night.prc.join(player_id, callsign, name)
    night.prc.players.append(CIVILIAN)
    night.poll()
    night.consume()
    night.wait(5)
    return night


def started(night: Night, ago: float = 20) -> int:
    return int(night.clock().timestamp() - ago)


def the_call(night: Night, number: int, at: int) -> dict[str, Any]:
    [record] = night.northca.stored_calls(
        night.config.erlc.servers["main"].mdt_id, call_id("erlc:main", f"{number}-{at}")
    )
    return record


def open_call(night: Night, number: int = 7, ago: float = 20, **fields: Any) -> int:
    at = started(night, ago)
    values = {"team": "Police", "caller": "900", "description": "Shots fired", "responders": ()} | fields
    night.prc.open_call(number, at, **values)
    return at


# ------------------------------------------------------------------ a call from the roster poll


def test_night_a_911_call_polled_becomes_one_northca_call_and_closes_when_it_ends() -> None:
    # Given an officer on duty and a civilian who dials 911 at the bank
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    at = open_call(night, position_descriptor="Springfield Bank")
    # When the poll reads the call
    outcome = night.poll()
    assert (outcome.result, outcome.calls) == ("changed", 1)
    night.consume()
    # Then the MDT holds one open call with what the game said, its caller by name
    call = the_call(night, 7, at)
    assert {k: call[k] for k in ("status", "description", "location", "call_type", "units_assigned")} == {
        "status": "open",
        "description": "Shots fired",
        "location": "Springfield Bank",
        "call_type": "Police",
        "units_assigned": [],
    }
    assert call["created_by"] == "CivCaller"
    # When Lindqvist responds, the next poll patches only the responders
    night.prc.open_call(
        7,
        at,
        team="Police",
        caller="900",
        description="Shots fired",
        position_descriptor="Springfield Bank",
        responders=("30",),
    )
    night.wait(60)
    night.poll()
    night.consume()
    assert the_call(night, 7, at)["units_assigned"] == ["1A-07"]
    assert night.northca.call_requests[-1][2] == {"units_assigned": ["1A-07"]}
    # When the call ends in game: one poll without it is not yet an end; the second is
    night.prc.end_call(7, at)
    night.wait(60)
    night.poll()
    night.consume()
    assert the_call(night, 7, at)["status"] == "open"
    night.wait(60)
    assert night.poll().calls == 1
    night.consume()
    assert the_call(night, 7, at)["status"] == "closed"
    assert len(night.mdt_calls()) == 1


def test_night_a_poll_that_says_nothing_new_queues_nothing_for_the_call() -> None:
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    open_call(night)
    night.poll()
    night.consume()
    night.wait(60)
    outcome = night.poll()
    assert (outcome.result, outcome.calls, night.queued) == ("unchanged", 0, [])


# ------------------------------------------------------------------ hostile: answers that say little


@pytest.mark.parametrize(
    "fault",
    [
        ErlcOfflineError("server offline", 422, 3002),
        ErlcUnavailableError("timeout"),
        ErlcError("unexpected HTTP 418", 418),
        "no calls list",
    ],
    ids=["offline-3002", "unreachable", "odd-answer", "no-EmergencyCalls-key"],
)
def test_night_an_answer_that_says_little_closes_no_call(fault: Exception | str) -> None:
    # Given an open call on the MDT
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    at = open_call(night)
    night.poll()
    night.consume()
    # When one poll fails, is "offline", or comes back without the EmergencyCalls list
    night.wait(60)
    if isinstance(fault, Exception):
        night.prc.faults.append(fault)
    else:
        night.prc.emergencies = None
    night.poll()
    night.prc.emergencies = night.prc.emergencies if night.prc.emergencies is not None else []
    if not night.prc.emergencies:
        night.prc.open_call(7, at, team="Police", caller="900", description="Shots fired")
    # And the next poll lists the call again
    night.wait(60)
    night.poll()
    night.consume()
    # Then nothing closed it
    assert the_call(night, 7, at)["status"] == "open"
    assert not [r for r in night.northca.call_requests if r[2].get("status") == "closed"]


def test_night_a_429_hold_closes_no_call() -> None:
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    at = open_call(night)
    night.poll()
    night.consume()
    night.prc.faults.append(ErlcRateLimitedError("rate limited", retry_after=150, bucket="global"))
    for _ in range(3):
        night.wait(60)
        night.poll()
    night.consume()
    assert the_call(night, 7, at)["status"] == "open"


def test_night_a_glitch_between_two_polls_without_the_call_is_not_counted_as_an_absence() -> None:
    # Given an open call, then one successful poll that does not list it (absent once)
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    at = open_call(night)
    night.poll()
    night.prc.end_call(7, at)
    night.wait(60)
    night.poll()
    # When the next poll fails: a failure is not a second absence
    night.prc.faults.append(ErlcUnavailableError("timeout"))
    night.wait(60)
    night.poll()
    night.consume()
    assert the_call(night, 7, at)["status"] == "open"


def test_night_answers_that_keep_leaving_the_list_out_close_the_calls_in_the_end() -> None:
    # Given PRC leaves an empty calls list out of its answer (as it leaves an empty player list out)
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    at = open_call(night)
    night.poll()
    night.consume()
    night.prc.emergencies = None
    # When it does so KEYLESS_POLLS times in a row: the first ones close nothing, the last closes all
    for _ in range(KEYLESS_POLLS - 1):
        night.wait(60)
        assert night.poll().calls == 0
    night.wait(60)
    assert night.poll().calls == 1
    night.consume()
    assert the_call(night, 7, at)["status"] == "closed"


def test_night_the_server_shutting_down_closes_its_calls_with_its_units() -> None:
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    at = open_call(night)
    night.poll()
    night.consume()
    outcomes = []
    for _ in range(night.config.erlc.servers["main"].offline_polls):
        night.prc.faults.append(ErlcOfflineError("server offline", 422, 3002))
        night.wait(60)
        outcomes.append(night.poll().calls)
    night.consume()
    assert outcomes == [0, 0, 1]
    assert (the_call(night, 7, at)["status"], night.mdt("1A-07")["status"]) == ("closed", "10-7")


def test_night_the_end_of_the_night_closes_a_call_only_the_webhook_reported_too() -> None:
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    at = started(night, 1)
    night.emergency_event(night.prc.open_call(9, at, team="Fire", caller="900"))
    for _ in range(night.config.erlc.servers["main"].offline_polls):
        night.prc.faults.append(ErlcOfflineError("server offline", 422, 3002))
        night.wait(60)
        night.poll()
    night.consume()
    assert the_call(night, 9, at)["status"] == "closed"
    # Later "offline" answers close nothing again
    night.prc.faults.append(ErlcOfflineError("server offline", 422, 3002))
    night.wait(60)
    assert night.poll().calls == 0


# ------------------------------------------------------------------ hostile: who and which call


def test_night_a_responder_not_on_the_roster_is_left_out_not_invented() -> None:
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    at = open_call(night, responders=("30", "555", "900"))  # 555: unknown; 900: the civilian
    night.poll()
    night.consume()
    assert the_call(night, 7, at)["units_assigned"] == ["1A-07"]


def test_night_a_call_number_repeated_after_a_restart_is_a_new_call() -> None:
    # Given call 1 tonight, which ends with the server's session
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    first = open_call(night, number=1, ago=600, description="Tonight's first")
    night.poll()
    night.consume()
    night.prc.end_call(1, first)
    # When the server restarts and its first call is number 1 again
    second = open_call(night, number=1, ago=5, description="After the restart")
    for _ in range(2):
        night.wait(60)
        night.poll()
        night.consume()
    # Then they are two Northca calls: the old one closed, the new one open with its own text
    assert (the_call(night, 1, first)["status"], the_call(night, 1, first)["description"]) == (
        "closed",
        "Tonight's first",
    )
    assert (the_call(night, 1, second)["status"], the_call(night, 1, second)["description"]) == (
        "open",
        "After the restart",
    )


# ------------------------------------------------------------------ one call, whichever path saw it


def test_night_a_call_seen_by_the_poll_then_the_webhook_is_one_call() -> None:
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    at = open_call(night)
    night.poll()
    night.consume()
    # When the Event Webhook reports the same call, Lindqvist now responding
    night.wait(5)
    call = night.prc.open_call(
        7, at, team="Police", caller="900", description="Shots fired", responders=("30",)
    )
    accepted = night.emergency_event(call)
    assert accepted.call_keys == (f"7-{at}",)
    night.consume()
    # Then the MDT holds one call, patched with the responder
    assert len(night.mdt_calls()) == 1
    assert the_call(night, 7, at)["units_assigned"] == ["1A-07"]


def test_night_a_call_seen_by_the_webhook_then_the_poll_is_one_call_and_keeps_the_dispatchers_edit() -> None:
    # Given the webhook reports a new call first: it is created at once
    night = on_duty(("30", "1A-07", "Lindqvist_30"), ("31", "1A-31", "Rossi"))
    at = started(night, 2)
    call = night.prc.open_call(7, at, team="Fire", caller="900", description="Smoke", responders=())
    night.emergency_event(call)
    night.consume()
    assert the_call(night, 7, at)["description"] == "Smoke"
    # And a dispatcher rewrites the description, while Rossi responds in game
    night.wait(10)
    night.northca.edit_call(call_id("erlc:main", f"7-{at}"), description="House fire, 2 trapped")
    night.prc.open_call(7, at, team="Fire", caller="900", description="Smoke", responders=("31",))
    # When the poll meets the call for the first time
    night.wait(30)
    night.poll()
    night.consume()
    # Then it is still one call: the responder the webhook did not know is added, the edit stands
    assert len(night.mdt_calls()) == 1
    record = the_call(night, 7, at)
    assert (record["units_assigned"], record["description"]) == (["1A-31"], "House fire, 2 trapped")


def test_night_a_call_only_the_webhook_saw_is_closed_once_the_poll_finds_it_gone() -> None:
    # Given a call the webhook reports, which ends before any poll lists it (found by the property test)
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    at = started(night, 1)
    night.emergency_event(night.prc.open_call(9, at, team="Police", caller="900", description="Hang-up"))
    night.prc.end_call(9, at)
    night.consume()
    assert the_call(night, 9, at)["status"] == "open"
    # When the polls run: the call is followed from the webhook's report, and closed once gone
    for _ in range(2):
        night.wait(60)
        night.poll()
    night.consume()
    assert the_call(night, 9, at)["status"] == "closed"
    # And a report once read is not taken up again (no second close)
    night.wait(60)
    assert night.poll().calls == 0


def test_night_a_webhook_saying_the_call_ended_closes_it_and_the_poll_does_not_reopen_it() -> None:
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    at = open_call(night)
    night.poll()
    night.consume()
    call = night.prc.emergencies[0] if night.prc.emergencies else None
    assert call is not None
    night.emergency_event(call, kind="EmergencyCallEnded")
    night.consume()
    assert the_call(night, 7, at)["status"] == "closed"
    # PRC still lists it for a poll: no reopening
    night.wait(60)
    night.poll()
    night.consume()
    assert the_call(night, 7, at)["status"] == "closed"


def test_night_a_webhook_call_without_a_number_is_acknowledged_and_left_to_the_poll() -> None:
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    accepted = night.post(
        "erlc", {"Type": "EmergencyCall", "Data": {"Team": "DOT", "Caller": 1, "Position": [0, 1]}}
    )
    assert (accepted.calls, accepted.messages) == (0, 0)
    assert "no CallNumber" in (accepted.label or "")


# ------------------------------------------------------------------ ;panic


def test_night_a_panic_command_is_one_panic_of_the_players_unit() -> None:
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    accepted = night.command(night.prc.players[0], ";PANIC shots fired")
    assert accepted.panic_units == ("1A-07",)
    assert accepted.label == "main: Lindqvist_30 ;PANIC shots fired -> PANIC 1A-07"
    night.consume()
    assert [p["unit_id"] for p in night.northca.panics] == ["1A-07"]
    # The unit's status is not touched: the panic is the signal
    assert night.mdt("1A-07")["status"] == "10-8"


def test_night_10_33_is_a_panic_not_a_status() -> None:
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    assert night.command(night.prc.players[0], ";10-033").panic_units == ("1A-07",)


def test_night_a_panic_webhook_retried_is_one_panic_and_two_presses_are_two() -> None:
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    cop = night.prc.players[0]
    night.command(cop, ";panic")
    # When PRC sends the same event again, signed anew two seconds later (the replay guard cannot tell)
    night.wait(2)
    retried = night.command(cop, ";panic", typed_ago=2)
    assert retried.panic_units == ("1A-07",)
    night.consume()
    assert len(night.northca.panics) == 1
    # And a second press, later, is a second panic
    night.wait(10)
    night.command(cop, ";panic")
    night.consume()
    assert len(night.northca.panics) == 2


def test_night_a_civilians_panic_is_refused_and_says_why() -> None:
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    accepted = night.command(CIVILIAN, ";panic")
    assert (accepted.panics, accepted.messages) == (0, 0)
    assert accepted.label == "main: CivCaller ;panic (refused: not an on-duty unit (team Civilian))"
    night.consume()
    assert night.northca.panics == []


def test_night_a_panic_from_a_player_who_joined_after_the_poll_lands_with_their_unit() -> None:
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    rookie = ErlcPlayer(
        name="Rookie", player_id="32", team="Police", callsign="1A-32", location="12 Main St, postal 214"
    )
    night.prc.players.append(rookie)
    accepted = night.command(rookie, ";panic")
    assert accepted.panic_units == ("1A-32",)
    night.consume()
    assert night.northca.panics[-1] | {"ts": None} == {
        "mdt": night.config.erlc.servers["main"].mdt_id,
        "unit_id": "1A-32",
        "address": "12 Main St, postal 214",
        "ts": None,
    }
    assert night.mdt("1A-32")["officer_name"] == "Rookie"


def test_night_a_panic_that_cannot_be_looked_up_waits_for_the_poll_and_is_never_silent() -> None:
    # Given PRC's rate limit holds the server
    night = on_duty(("30", "1A-07", "Lindqvist_30"))
    night.prc.faults.append(ErlcRateLimitedError("rate limited", retry_after=30, bucket="global"))
    night.wait(60)
    night.poll()
    # When a player who just joined presses ;panic
    rookie = night.prc.join("33", "1A-33", "Rookie")
    with captured_logs() as text:
        accepted = night.command(rookie, ";panic")
    # Then it is held, and said at once as the alarm's line
    assert (accepted.panics, accepted.label) == (0, "main: Rookie ;panic -> held: waits for the next poll")
    [line] = [r for r in log_records(text) if r["message"] == "EMERGENCY NOT DELIVERED"]
    assert (line["kind"], line["outcome"]) == ("panic", "held")
    # And the first poll after the hold sends it, as the panic of the unit it finds
    night.wait(31)
    night.poll()
    night.consume()
    assert [p["unit_id"] for p in night.northca.panics] == ["1A-33"]


# ------------------------------------------------------------------ property: a night of calls

OFFICERS = (("30", "1A-07", "Lindqvist_30"), ("31", "1A-31", "Rossi"), ("32", "1A-32", "Kim"))
STEP = st.one_of(
    st.tuples(st.just("open"), st.sampled_from(["Police", "Fire", "DOT"])),
    st.tuples(st.just("respond"), st.integers(0, 5), st.sampled_from(["30", "31", "32", "555"])),
    st.tuples(st.just("describe"), st.integers(0, 5), st.sampled_from(["Help", "Shots fired", "Smoke"])),
    st.tuples(st.just("end"), st.integers(0, 5)),
    st.tuples(st.just("webhook"), st.integers(0, 5)),
    st.tuples(st.just("poll"), st.sampled_from(["ok", "ok", "offline", "unavailable", "keyless", "429"])),
    st.tuples(st.just("consume"), st.just(0)),
    st.tuples(st.just("restart"), st.just(0)),
)


def _apply(night: Night, step: tuple[Any, ...], state: dict[str, Any]) -> None:
    """One thing that happens on the night (a fault never makes a third "say little" answer in a row:
    those end the night or the calls on purpose, which the dedicated tests cover)."""
    kind, arg, *rest = step
    listed = night.prc.emergencies or []
    if kind == "open":
        state["number"] += 1
        call = night.prc.open_call(state["number"], started(night, 1), team=arg, caller="900")
        state["opened"][(call.number, call.started_at)] = call
    elif kind in ("respond", "describe", "end", "webhook") and listed:
        _change(night, kind, listed[arg % len(listed)], rest, state)
    elif kind == "poll":
        _poll(night, arg, state)
    elif kind == "consume":
        night.consume()
    elif kind == "restart":  # every call ends with the session; numbering starts again
        night.prc.emergencies = []
        state["number"] = 0
    night.wait(1)


def _change(night: Night, kind: str, call: ErlcCall, rest: list[Any], state: dict[str, Any]) -> None:
    if kind == "end":
        night.prc.end_call(call.number, call.started_at)
    elif kind == "webhook":
        night.emergency_event(call)
        state["seen"].add((call.number, call.started_at))
    else:
        change = (
            {"responders": (*call.responders, rest[0])} if kind == "respond" else {"description": rest[0]}
        )
        kept = {k: v for k, v in vars(call).items() if k not in ("number", "started_at")}
        night.prc.open_call(call.number, call.started_at, **(kept | change))


def _poll(night: Night, wanted: str, state: dict[str, Any]) -> None:
    fault = wanted if state["quiet"] < 2 else "ok"
    state["quiet"] = state["quiet"] + 1 if fault in ("offline", "keyless") else 0
    if fault == "offline":
        night.prc.faults.append(ErlcOfflineError("server offline", 422, 3002))
    elif fault == "unavailable":
        night.prc.faults.append(ErlcUnavailableError("timeout"))
    elif fault == "429":
        night.prc.faults.append(ErlcRateLimitedError("rate limited", retry_after=30, bucket="global"))
    game = night.prc.emergencies
    if fault == "keyless":
        night.prc.emergencies = None
    night.wait(31)
    if night.poll().result in ("changed", "unchanged") and fault != "keyless":
        state["seen"] |= {(c.number, c.started_at) for c in game or []}
    night.prc.emergencies = game


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=1, max_size=25))
def test_night_property_every_game_call_is_one_northca_call_holding_what_the_game_last_said(
    steps: list[tuple[Any, ...]],
) -> None:
    night = on_duty(*OFFICERS)
    state: dict[str, Any] = {"number": 0, "opened": {}, "quiet": 0, "seen": set()}
    for step in steps:
        _apply(night, step, state)
    # Once the game has been read cleanly twice and everything is delivered
    for _ in range(2):
        night.wait(61)
        night.poll()
        night.consume()
    state["seen"] |= {(c.number, c.started_at) for c in night.prc.emergencies or []}
    units = {"30": "1A-07", "31": "1A-31", "32": "1A-32"}
    open_now = {(c.number, c.started_at): c for c in night.prc.emergencies or []}
    for number, at in state["opened"]:
        records = night.northca.stored_calls(
            night.config.erlc.servers["main"].mdt_id, call_id("erlc:main", f"{number}-{at}")
        )
        # Then each call the relay saw (a poll listed it, or the webhook sent it) is one Northca call;
        # one that began and ended between two reads never reached it
        assert len(records) == ((number, at) in state["seen"]), (number, at, records)
        if not records:
            continue
        [record] = records
        if (number, at) in open_now:
            # open, with what the game says now (a responder on no roster left out)
            now = open_now[(number, at)]
            assert record["status"] == "open"
            assert record["description"] == (now.description or "")
            assert record["units_assigned"] == list(
                dict.fromkeys(units[p] for p in now.responders if p in units)
            )
        else:
            assert record["status"] == "closed", (number, at)
    assert len(night.mdt_calls()) == len(state["seen"])
