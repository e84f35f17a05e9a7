"""ER:LC's emergency calls read from PRC's answer and compared with what the MDT was told (relay.erlc.calls):
every odd shape read or skipped without costing the poll its players, the call's key, what a poll sends,
and the roster's bound."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from relay.erlc.call_sync import (
    MAX_STORED_CALLS,
    Reported,
    StoredCall,
    dump_calls,
    load_calls,
    load_reported,
    report,
    sync_calls,
)
from relay.erlc.calls import digests, parse_calls, read_call
from relay.erlc.roster import dump_stored, load_stored, parse_players
from relay.models import CLOSED
from relay.ports.erlc import ErlcCall
from tests.support.constants import EVENTS, NOW, ROOT

T0 = int(NOW.timestamp())


def v2_call(**fields: Any) -> dict[str, Any]:
    return {
        "Team": "Police",
        "Caller": 100,
        "Players": [],
        "Position": [812.4, -1130.9],
        "StartedAt": T0,
        "CallNumber": 7,
        "Description": "Help",
        "PositionDescriptor": "Springfield Ave",
    } | fields


def sync(
    stored: dict[str, StoredCall], listed: list[ErlcCall] | None, *, seconds: float = 0, **kw: Any
) -> Any:
    options: dict[str, Any] = {"units": {"100": "A-1"}, "names": {"900": "Civ"}, "absent_polls": 2}
    return sync_calls(
        stored, kw.pop("keyless", 0), listed, now=NOW + timedelta(seconds=seconds), **(options | kw)
    )


# ------------------------------------------------------------------ reading PRC's answer


def test_parse_the_wrappers_v2_server_body() -> None:
    body = json.loads((ROOT / "tests" / "payloads" / "erlc" / "v2_server.json").read_text())
    calls, unreadable = parse_calls(body)
    assert unreadable == 0
    assert calls == [
        ErlcCall(
            number=7,
            started_at=1700000004,
            team="Police",
            caller="100",
            responders=("100", "200"),
            position=(1.0, 2.0, 3.0),
            description="Help",
        )
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"Players": []}, None),  # the list left out: no news, not "no calls"
        ({"EmergencyCalls": None}, None),
        ({"EmergencyCalls": "none"}, None),
        ({"EmergencyCalls": {"7": {}}}, None),
        ([], None),  # v1's bare player list
        ({"EmergencyCalls": []}, []),
    ],
)
def test_parse_a_missing_or_odd_list_is_no_news(body: Any, expected: list[ErlcCall] | None) -> None:
    assert parse_calls(body) == (expected, 0)


@pytest.mark.parametrize(
    ("fields", "read"),
    [
        # Erlc.Net's shapes: responders as strings, numbers as longs
        (
            {"Players": ["100", "Bee:200"], "Caller": "Civ:900"},
            {"responders": ("100", "200"), "caller": "900", "caller_name": "Civ"},
        ),
        ({"CallNumber": "7", "StartedAt": "1795867185"}, {"number": 7, "started_at": 1795867185}),
        ({"StartedAt": 1795867185123}, {"started_at": 1795867185}),  # milliseconds
        ({"StartedAt": 1795867185.7}, {"started_at": 1795867185}),
        ({"Caller": None}, {"caller": None, "caller_name": None}),  # "PRC may send a user ID or None"
        ({"Players": None, "Position": "here"}, {"responders": (), "position": ()}),
        (
            {"Players": [True, {"UserId": 300}, -1, "x"], "Position": [1, "2", float("nan")]},
            {"responders": ("300",), "position": (1.0,)},
        ),
        (
            {"Team": 5, "Description": ["a"], "PositionDescriptor": "  "},
            {"team": None, "description": None, "position_descriptor": None},
        ),
        ({"Description": "Help\u202e now\x00"}, {"description": "Help now"}),  # unreadable characters go
        ({"callNumber": 8, "startedAt": T0, "description": "camel"}, {"number": 8, "description": "camel"}),
    ],
)
def test_parse_each_field_of_another_type_is_left_out_not_a_crash(
    fields: dict[str, Any], read: dict[str, Any]
) -> None:
    body = v2_call() if "callNumber" not in fields else {"Team": "Police", "Players": []}
    call = read_call(body | fields)
    assert call is not None
    assert {name: getattr(call, name) for name in read} == read


@pytest.mark.parametrize("number", [None, "seven", True, -1, 1.5, [7]])
def test_parse_a_call_without_a_usable_number_is_skipped_and_counted(number: Any) -> None:
    calls, unreadable = parse_calls(
        {"EmergencyCalls": [v2_call(CallNumber=number), v2_call(CallNumber=8), "junk"]}
    )
    assert [c.number for c in calls or []] == [8]
    assert unreadable == 2


def test_parse_odd_calls_never_cost_the_players() -> None:
    body = json.loads((EVENTS / "erlc_v2_server.json").read_text()) | {
        "EmergencyCalls": [{"CallNumber": {}}, 5]
    }
    assert len(parse_players(body)) == 5
    assert parse_calls(body) == ([], 2)


# ------------------------------------------------------------------ what a poll sends


def test_sync_a_new_call_is_created_with_every_field_dated_when_it_started() -> None:
    call = read_call(v2_call(Players=[100, 555], Caller=900, StartedAt=T0 - 60))
    assert call is not None
    result = sync({}, [call])
    [change] = result.changes
    assert change.key == f"7-{T0 - 60}" and change.opens and change.at == NOW - timedelta(seconds=60)
    assert change.created_by == "Civ"
    assert change.fields == {
        "description": "Help",
        "location": "Springfield Ave",
        "call_type": "Police",
        "units_assigned": ["A-1"],
    }
    assert result.unknown_responders == ["555"]


def test_sync_the_position_is_the_location_when_the_call_names_no_place() -> None:
    call = read_call(v2_call(PositionDescriptor=None))
    assert call is not None
    assert sync({}, [call]).changes[0].fields["location"] == "812.4, -1130.9"


def test_sync_later_polls_send_only_what_changed_dated_at_the_poll() -> None:
    call = read_call(v2_call())
    assert call is not None
    first = sync({}, [call])
    again = sync(first.calls, [call], seconds=60)
    assert (again.changes, again.calls == first.calls) == ([], True)
    moved = read_call(v2_call(Players=[100], PositionDescriptor="Bank"))
    assert moved is not None
    [change] = sync(first.calls, [moved], seconds=120).changes
    assert change.fields == {"location": "Bank", "units_assigned": ["A-1"]}
    assert change.at == NOW + timedelta(seconds=120) and change.created_by is None


def test_sync_a_call_missing_from_absent_polls_lists_in_a_row_is_closed_once() -> None:
    call = read_call(v2_call())
    assert call is not None
    first = sync({}, [call])
    once = sync(first.calls, [], seconds=60)
    assert once.changes == [] and once.calls[f"7-{T0}"].absent == 1
    twice = sync(once.calls, [], seconds=120)
    assert [(c.key, c.fields, c.opens) for c in twice.changes] == [(f"7-{T0}", {"status": CLOSED}, False)]
    assert twice.calls == {}


def test_sync_a_call_back_in_the_list_is_no_longer_absent() -> None:
    call = read_call(v2_call())
    assert call is not None
    first = sync({}, [call])
    back = sync(sync(first.calls, [], seconds=60).calls, [call], seconds=120)
    assert back.changes == [] and back.calls[f"7-{T0}"].absent == 0


def test_sync_no_list_counts_only_while_there_are_calls_to_close() -> None:
    assert sync({}, None).calls == {} and sync({}, None).keyless == 0


def test_sync_a_call_without_started_at_keeps_the_key_it_was_first_seen_with() -> None:
    call = read_call(v2_call(StartedAt=None))
    assert call is not None
    first = sync({}, [call])
    [key] = first.calls
    assert key == f"7-{T0}"
    later = sync(first.calls, [call], seconds=300)
    assert list(later.calls) == [key] and later.changes == []


def test_sync_the_webhooks_baseline_makes_a_first_sight_send_only_what_changed_since() -> None:
    call = read_call(v2_call(Players=[100]))
    assert call is not None
    told = digests(
        {"description": "Help", "location": "Springfield Ave", "call_type": "Police", "units_assigned": []}
    )
    reported = {f"7-{T0}": Reported(number=7, started=T0, at=T0 + 5, sent=told)}
    [change] = sync({}, [call], seconds=30, reported=reported, last_poll=T0 - 50).changes
    assert change.fields == {"units_assigned": ["A-1"]} and change.at == NOW + timedelta(seconds=30)


def test_sync_a_call_only_the_webhook_saw_is_followed_and_closed_once_gone() -> None:
    # Given the webhook reported call 7 after the last poll, and the call ended before this poll
    reported = {f"7-{T0}": Reported(number=7, started=T0, at=T0 + 5, sent={})}
    adopted = sync({}, [], seconds=30, reported=reported, last_poll=T0 - 30)
    assert (list(adopted.calls), adopted.changes) == ([f"7-{T0}"], [])
    assert adopted.calls[f"7-{T0}"].absent == 1  # this answer, after the report, did not list it
    # Then it is closed as any call missing from absent_polls lists, and not adopted again after
    closed = sync(adopted.calls, [], seconds=90, reported=reported, last_poll=T0 + 30)
    assert [(c.key, c.fields, c.opens) for c in closed.changes] == [(f"7-{T0}", {"status": CLOSED}, False)]
    assert sync(closed.calls, [], seconds=150, reported=reported, last_poll=T0 + 90).calls == {}


def test_sync_a_report_that_may_postdate_the_answer_is_not_yet_an_absence() -> None:
    reported = {f"7-{T0}": Reported(number=7, started=T0, at=T0 + 28, sent={})}
    assert sync({}, [], seconds=30, reported=reported, last_poll=T0 - 30).calls[f"7-{T0}"].absent == 0


def test_reports_are_merged_bounded_and_expire() -> None:
    first = Reported(number=7, started=T0, at=T0, sent={"description": "aaaa"})
    item = report({}, "7-1", first, T0)
    more = Reported(number=7, started=T0, at=T0 + 5, sent={"units_assigned": "bbbb"})
    merged = load_reported(report(load_reported(item), "7-1", more, T0 + 5))
    assert merged["7-1"].sent == {"description": "aaaa", "units_assigned": "bbbb"}
    many = {f"{n}-{T0}": Reported(number=n, at=T0 + n) for n in range(MAX_STORED_CALLS + 5)}
    kept = load_reported(report(many, "new", Reported(number=99, at=T0 + 100), T0 + 100))
    assert len(kept) == MAX_STORED_CALLS and "new" in kept and f"0-{T0}" not in kept
    old = load_reported(report({"old": Reported(number=1, at=T0 - 2 * 86400)}, "7-1", first, T0))
    assert list(old) == ["7-1"]


def test_sync_the_roster_remembers_the_newest_calls_and_says_which_it_no_longer_follows() -> None:
    listed = [
        c for n in range(MAX_STORED_CALLS + 5) if (c := read_call(v2_call(CallNumber=n, StartedAt=T0 + n)))
    ]
    result = sync({}, listed, seconds=MAX_STORED_CALLS + 10)
    assert len(result.calls) == MAX_STORED_CALLS
    assert result.forgotten == sorted(f"{n}-{T0 + n}" for n in range(5))
    assert {c.key for c in result.changes} == set(result.calls)
    # The next poll does not bring the oldest back: the same newest calls, nothing sent
    again = sync(result.calls, listed, seconds=MAX_STORED_CALLS + 70)
    assert (again.calls.keys() == result.calls.keys(), again.changes) == (True, [])


def test_the_stored_form_is_small_and_reads_back() -> None:
    call = read_call(v2_call(Players=[100]))
    assert call is not None
    calls = sync({}, [call]).calls
    dumped = dump_calls(calls)
    assert load_calls(dumped) == calls
    assert len(json.dumps(dumped)) < 200
    roster = load_stored({"v": 2, "players": {}}).model_copy(update={"calls": calls})
    assert load_stored(dump_stored(roster)) == roster
    assert "calls" not in dump_stored(roster.model_copy(update={"calls": {}}))
    assert load_calls({"bad": {"number": "x"}, "also": 3}) == {}
