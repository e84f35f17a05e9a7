"""The game night's plan and report (relay_devtools.gamenight.scenario, report, relay_process): the
evening is reproducible and keeps its guards; the report counts what was sent and says each failure."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

from relay_devtools.files.secrets_file import load_secrets_file
from relay_devtools.files.template import queue_settings
from relay_devtools.gamenight import rules
from relay_devtools.gamenight.measure import Findings, WronglyOff
from relay_devtools.gamenight.mix import TINY, Size
from relay_devtools.gamenight.model import build_model
from relay_devtools.gamenight.records import (
    CadEvent,
    Delivery,
    Edit,
    GameChange,
    Outage,
    PartnerFault,
    Typed,
    from_json,
    to_json,
)
from relay_devtools.gamenight.relay_process import new_secrets, set_parameter_default
from relay_devtools.gamenight.report import build, compare, render, sent_counts
from relay_devtools.gamenight.scenario import plan_evening
from tests.support.constants import ROOT
from tests.support.gamenight import join, leave, typed

EVENING = {
    "relay": "tree@abc1234",
    "seed": 1,
    "poll_seconds": 30,
    "duration": 240.0,
    "settled": True,
    "dlq": 0,
}


def test_gamenight_one_seed_is_one_evening() -> None:
    assert plan_evening(Size(), 17) == plan_evening(Size(), 17)
    assert plan_evening(Size(), 17) != plan_evening(Size(), 18)


def test_gamenight_the_default_evening_holds_what_issue_17_tried() -> None:
    plan = plan_evening(Size(), 17)
    counts = sent_counts(plan)
    assert counts["players"] == 40 and counts["commands"] == 220
    assert (
        counts["rejoins"] >= 3
        and counts["leaves"] >= 5
        and counts["team_changes"]
        and counts["callsign_changes"]
    )
    assert counts["duplicates"] and counts["late"] and counts["cad_logins"] >= 8 and counts["cad_logouts"]
    assert counts["edits"] == 12
    texts = {t.text for t in plan if isinstance(t, Typed)}
    assert {";status Available", ";10-08", ";status 10-6 at scene"} <= texts
    assert {o.kind for o in plan if isinstance(o, Outage)} == {"rate-limit", "offline"}
    kinds = {f.spec["kind"] for f in plan if isinstance(f, PartnerFault)}
    assert kinds == {"status", "timeout", "throttle"}
    model = build_model(plan)
    right_after = [
        e for e in model.expectations if e.path == "command" and e.model_at - _joined(plan, e.unit) < 10
    ]
    assert right_after, "players who type right after joining"


def _joined(plan: list[object], unit: str) -> float:
    return max(
        (
            g.at
            for g in plan
            if isinstance(g, GameChange) and g.callsign and rules.canonical_id(g.callsign) == unit
        ),
        default=-1000.0,
    )


def test_gamenight_no_edit_is_within_seconds_of_another_change_of_its_unit() -> None:
    plan = plan_evening(Size(), 17)
    model = build_model(
        [dataclasses.replace(e, unit_id=e.unit, applied=True) if isinstance(e, Edit) else e for e in plan]
    )
    for edit in (e for e in plan if isinstance(e, Edit)):
        others = [
            p.at
            for points in model.units[edit.unit].fields.values()
            for p in points
            if p.cause.startswith(("game", "command", "cad"))
        ]
        assert all(abs(t - edit.at) >= 5 for t in others), edit


def test_gamenight_one_players_commands_are_seconds_apart_and_typed_in_game() -> None:
    plan = plan_evening(Size(), 17)
    by_player: dict[str, list[float]] = {}
    for command in (t for t in plan if isinstance(t, Typed)):
        by_player.setdefault(command.user_id, []).append(command.at)
        assert command.at == int(command.at) and command.sends[0].at > command.at
    for times in by_player.values():
        times.sort()
        assert all(b - a >= 3 for a, b in itertools.pairwise(times))


def test_gamenight_the_tiny_evening_is_clean() -> None:
    plan = plan_evening(TINY, 17)
    assert not [r for r in plan if isinstance(r, PartnerFault | Outage)]
    joins = {g.user_id: g.at for g in plan if isinstance(g, GameChange)}
    assert all(t.at >= joins[t.user_id] + TINY.poll_seconds + 3 for t in plan if isinstance(t, Typed))


def test_gamenight_sent_counts_rejoins_duplicates_and_disorder() -> None:
    late = typed(10, "1", ";10-6", sent=30)
    records = [
        join(0, "1"),
        dataclasses.replace(late, sends=(*late.sends, Delivery(31, "resend", 409))),
        typed(20, "1", ";10-97", sent=21),
        leave(40, "1"),
        join(100, "1"),
        CadEvent(50, "login", 7, "1a-07", "Sgt Rossi", "LSPD", "SGT", 0, 500),
    ]
    counts = sent_counts(records)
    assert (counts["joins"], counts["rejoins"], counts["leaves"]) == (1, 1, 1)
    assert (counts["deliveries"], counts["duplicates"], counts["late"], counts["out_of_order"]) == (
        3,
        1,
        1,
        1,
    )


def findings(**changes: object) -> Findings:
    base = Findings([], [], [], [], [], {}, {"command": [1.0, 2.0, 12.0], "join": [31.0], "cad": []}, {})
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_gamenight_report_says_each_failure_and_each_latency_against_its_target() -> None:
    offs = [WronglyOff(100.0 + n, f"1A-0{n}") for n in range(3)]
    report = build(findings(wrongly_off=offs, mass_resets=[offs]), [join(0, "1")], EVENING, start=0.0)
    assert report["failures"] == {
        "field_differences": 0,
        "dropped_commands": 0,
        "mass_resets": 1,
        "reverted_edits": 0,
        "duplicate_units": 0,
    }
    assert report["latency"]["command"] == {"n": 3, "p50": 2.0, "p95": 12.0, "max": 12.0, "target_p95": 10.0}
    assert report["latency"]["join"]["target_p95"] == 40.0
    text = render(report)
    assert "mass resets                  1" in text and "MISSED" in text and "<= 40 s ok" in text
    assert "'units': ['1A-00', '1A-01', '1A-02']" in text


def test_gamenight_compare_puts_two_reports_side_by_side() -> None:
    before = build(findings(), [join(0, "1")], {**EVENING, "relay": "before@4762ba2"}, 0.0)
    after = build(
        findings(latencies={"command": [3.0]}), [join(0, "1")], {**EVENING, "relay": "after@c0d5048"}, 0.0
    )
    lines = compare(before, after).splitlines()
    assert "before@4762ba2" in lines[1] and "after@c0d5048" in lines[1]
    assert any(line.startswith("command -> MDT p95") and line.split()[-2:] == ["3.0", "s"] for line in lines)


def test_gamenight_the_relay_runs_its_own_template_with_the_evenings_poll_period(tmp_path: Path) -> None:
    template = (ROOT / "template.yaml").read_text()
    changed = set_parameter_default(template, "RosterPollSchedule", "rate(30 seconds)")
    changed = set_parameter_default(changed, "ConsumerBatchingWindowSeconds", "1")
    (tmp_path / "template.yaml").write_text(changed)
    settings = queue_settings(tmp_path / "template.yaml")
    assert (settings.roster_poll_seconds, settings.window_seconds) == (30, 1)
    assert len(changed.splitlines()) == len(template.splitlines())


def test_gamenight_secrets_file_is_one_relay_local_reads(tmp_path: Path) -> None:
    secrets = new_secrets()
    (tmp_path / "s.toml").write_text(secrets.toml())
    loaded = load_secrets_file(tmp_path / "s.toml")
    assert loaded.newest(rules.SONORAN_SECRET) == secrets.sonoran_key
    assert loaded.signing_keys[rules.ERLC_SECRET] == secrets.erlc_private


def test_gamenight_a_saved_evening_reads_back_as_it_was_played() -> None:
    plan = plan_evening(TINY, 3)
    assert from_json(json.loads(json.dumps(to_json(plan)))) == plan
