"""A tiny, clean game night against this checkout's `relay local` (a subprocess, over HTTP only): the
harness works end to end, and an evening the relay handles shows none of the failures. Latency is
reported, never asserted."""

from __future__ import annotations

from pathlib import Path

from relay_devtools.gamenight.mix import TINY
from relay_devtools.gamenight.report import FAILURES, render
from relay_devtools.gamenight.run import Options, run_evening
from tests.support.constants import ROOT


def test_gamenight_a_tiny_clean_evening_shows_no_failure(tmp_path: Path) -> None:
    # Given a handful of players on duty, their commands (a few sent twice), a CAD login and an edit,
    # played against relay local with a two-second roster poll and a one-second batching window
    options = Options(
        tree=ROOT,
        workdir=tmp_path,
        size=TINY,
        seed=17,
        settle_seconds=120.0,
        window_seconds=1,
        log=lambda _: None,
    )
    # When the evening is over and the MDT has settled
    report = run_evening(options)
    # Then everything was sent and answered, and no failure is counted
    sent = report["sent"]
    assert (sent["players"], sent["commands"], sent["cad_logins"], sent["edits_applied"]) == (4, 8, 1, 1)
    assert sent["duplicates"] >= 1
    assert report["relay_answers"]["5xx"] == 0 and report["relay_answers"]["none"] == 0
    assert {name: report["failures"][name] for name in FAILURES} == dict.fromkeys(FAILURES, 0), render(report)
    assert report["latency"]["command"]["n"] > 0 and report["evening"]["dlq"] == 0
