"""The game night's findings (relay_devtools.gamenight.mdt and measure): the MDT's history rebuilt from
the partner's request log, and each failure the report counts, judged against the model."""

from __future__ import annotations

import math

from relay_devtools.gamenight.mdt import by_officer, history, parse_time
from relay_devtools.gamenight.measure import (
    GRACE,
    bursts,
    differences,
    duplicates,
    latencies,
    measure,
    percentile,
    reverted,
    wrongly_off,
)
from relay_devtools.gamenight.model import build_model
from tests.support.gamenight import edit, join, leave, put, typed, unit

T0 = parse_time("2026-12-06T20:00:00.000Z")


def at(seconds: float) -> str:
    """The log's ISO time `seconds` after T0."""
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(T0 + seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def officer(status: str = "10-8", unit_id: str = "1A-07", name: str = "Player_1") -> dict[str, str]:
    return unit(unit_id, officer_name=name, department="Patrol", status=status)


def test_gamenight_mdt_history_keeps_only_what_the_partner_stored() -> None:
    # Given a PUT the partner stored, one it refused (a fault), and a dispatcher's edit
    log = [
        put(at(10), officer("10-8")),
        put(at(20), officer("10-6"), status=500),
        {"method": "GET", "path": "/v1/mdts/m/units/active", "status": 200, "at": at(21), "body": None},
    ]
    mdt = history(log, [edit(T0 + 30, "1A-07", department="Traffic")])
    # Then the unit was 10-8 from 10 s, and the edit changed its department only
    assert mdt.record_at("1A-07", T0 + 5) is None
    assert mdt.record_at("1A-07", T0 + 25)["status"] == "10-8"  # type: ignore[index]
    after = mdt.record_at("1A-07", T0 + 30)
    assert after is not None and (after["department"], after["status"]) == ("Traffic", "10-8")
    assert [w.by for w in mdt.of("1A-07")] == ["relay", "dispatcher"]


def test_gamenight_field_differences_name_the_missing_the_extra_and_the_wrong() -> None:
    model = build_model([join(T0, "1", "1A-07"), join(T0, "2", "1A-08"), typed(T0 + 5, "1", ";10-6")])
    listed = by_officer([officer("10-8"), {"id": "9Z-99", "status": "10-8"}])
    found = {(d.unit, d.field, d.expected, d.shown) for d in differences(model, listed)}
    assert found == {
        ("1A-07", "status", "10-6", "10-8"),
        ("1A-08", "(unit)", "present", None),
        ("9Z-99", "(unit)", None, "present"),
    }


def test_gamenight_two_ids_for_one_officer_are_a_duplicate_and_the_newest_is_compared() -> None:
    listed = by_officer(
        [
            {**officer("10-6", "1a-07"), "updated_at": "2026-12-06T20:00:05.000Z"},
            {**officer("10-8", "1A-07"), "updated_at": "2026-12-06T20:00:01.000Z"},
        ]
    )
    assert duplicates(listed) == {"1A-07": ["1A-07", "1a-07"]}
    model = build_model([join(T0, "1"), typed(T0 + 3, "1", ";10-6")])
    assert differences(model, listed) == []


def test_gamenight_a_command_the_mdt_never_showed_is_dropped_and_one_it_showed_has_a_latency() -> None:
    # Given two commands that each stood for a minute: the MDT showed the second, never the first
    records = [join(T0, "1"), typed(T0 + 100, "1", ";10-6"), typed(T0 + 160, "1", ";10-97")]
    log = [put(at(20), officer("10-8")), put(at(164.5), officer("10-97"))]
    samples, unshown, dropped = latencies(build_model(records), history(log, []))
    assert [d.status for d in dropped] == ["10-6"] and unshown["command"] == 1
    assert samples["command"] == [164.5 - 160.5]  # from its sending (half a second after typing)
    assert samples["join"] == [20.0]


def test_gamenight_a_command_superseded_within_seconds_is_not_judged() -> None:
    records = [join(T0, "1"), typed(T0 + 100, "1", ";10-6"), typed(T0 + 104, "1", ";10-97")]
    log = [put(at(20), officer("10-8")), put(at(108), officer("10-97"))]
    _, unshown, dropped = latencies(build_model(records), history(log, []))
    assert dropped == [] and unshown["command"] == 0


def test_gamenight_a_command_the_mdt_already_showed_gives_no_latency() -> None:
    records = [join(T0, "1"), typed(T0 + 100, "1", ";10-8")]
    samples, _, dropped = latencies(build_model(records), history([put(at(20), officer("10-8"))], []))
    assert samples["command"] == [] and dropped == []


def test_gamenight_a_value_shown_only_long_after_the_model_moved_on_is_not_a_latency() -> None:
    records = [join(T0, "1"), typed(T0 + 100, "1", ";10-6"), typed(T0 + 130, "1", ";10-97")]
    log = [put(at(20), officer("10-8")), put(at(130 + GRACE + 1), officer("10-6"))]
    samples, _, dropped = latencies(build_model(records), history(log, []))
    assert samples["command"] == [] and len(dropped) == 2


def test_gamenight_units_sent_off_duty_together_while_in_game_are_a_mass_reset() -> None:
    # Given three players in game all evening, and a relay that wrote all three 10-7 within seconds
    records = [join(T0, str(n), f"1A-0{n}") for n in (1, 2, 3)] + [
        join(T0, "4", "1A-04"),
        leave(T0 + 95, "4"),
    ]
    log = [put(at(5), *(officer("10-8", f"1A-0{n}") for n in (1, 2, 3, 4)))]
    log += [put(at(100), officer("10-7", "1A-01"), officer("10-7", "1A-02"), officer("10-7", "1A-04"))]
    log += [put(at(104), officer("10-7", "1A-03"))]
    model, mdt = build_model(records), history(log, [])
    offs = wrongly_off(model, mdt, lag=45)
    # Then the three are wrongly off (not 1A-04, who left), and that is one mass reset
    assert [o.unit for o in offs] == ["1A-01", "1A-02", "1A-03"]
    assert len(bursts(offs)) == 1
    assert bursts(offs[:2]) == []


def test_gamenight_an_edit_the_relay_overwrote_before_any_real_change_is_reverted() -> None:
    records = [join(T0, "1"), edit(T0 + 50, "1A-07", officer_name="Sgt. Fixed Name"), leave(T0 + 100, "1")]
    records.append(join(T0 + 200, "1"))
    log = [put(at(5), officer("10-8")), put(at(230), officer("10-8", name="Player_1"))]
    model = build_model(records)
    found = reverted(model, history(log, [r for r in records if type(r).__name__ == "Edit"]))
    assert [(r.field, r.reverted_to, r.reverted_at - T0) for r in found] == [
        ("officer_name", "Player_1", 230)
    ]


def test_gamenight_an_edit_changed_by_a_later_real_change_is_not_reverted() -> None:
    records = [join(T0, "1"), edit(T0 + 50, "1A-07", status="10-6"), typed(T0 + 60, "1", ";10-8")]
    log = [put(at(5), officer("10-8")), put(at(62), officer("10-8"))]
    model = build_model(records)
    assert reverted(model, history(log, [r for r in records if type(r).__name__ == "Edit"])) == []


def test_gamenight_a_clean_evening_measures_no_failure() -> None:
    records = [join(T0, "1"), typed(T0 + 40, "1", ";10-6")]
    log = [put(at(8), officer("10-8")), put(at(43), officer("10-6"))]
    findings = measure(build_model(records), history(log, []), by_officer([officer("10-6")]), 30)
    assert (findings.differences, findings.dropped, findings.mass_resets, findings.reverted) == (
        [],
        [],
        [],
        [],
    )
    assert findings.duplicates == {} and findings.latencies["command"] == [2.5]


def test_gamenight_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert (percentile(values, 0.5), percentile(values, 0.95)) == (10.0, 19.0)
    assert percentile([3.0], 0.95) == 3.0 and math.isnan(percentile([], 0.5))


def test_gamenight_a_command_delivered_after_a_newer_status_is_not_judged() -> None:
    # Given ;10-6 typed at 100 but delivered at 118, after the player's ;10-97 of 112
    records = [join(T0, "1"), typed(T0 + 100, "1", ";10-6", sent=T0 + 118), typed(T0 + 112, "1", ";10-97")]
    log = [put(at(20), officer("10-8")), put(at(115), officer("10-97"))]
    _, unshown, dropped = latencies(build_model(records), history(log, []))
    # Then the relay rightly never showed it, and it is not called dropped
    assert dropped == [] and unshown["command"] == 0
