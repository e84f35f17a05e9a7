"""Issue 21, item 8: docs/sources/erlc.md's "Trying it locally", done as written. relay.toml's
commented ER:LC blocks uncommented (the page's options, value_maps included), relay local polling
often (`--poll-every`), then the page's own commands, taken from the page: the player joins through
the emulator, the unit appears, the sample command and `;status available` change its status, and
the player's leave sends it off duty; back in game, a 911 call opened, answered and ended in the
emulator is opened, assigned and closed in the MDT, and the Event Webhook's call and `;panic` samples
reach it too."""

from __future__ import annotations

import json
import os
import re
import shlex
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from relay_devtools.cli import main
from relay_devtools.local import state
from relay_devtools.local.stack import LocalOptions, LocalStack
from tests.support.constants import ROOT

PAGE = ROOT / "docs" / "sources" / "erlc.md"
COMMENTED_KEY = re.compile(r"^# (\[[a-z0-9_.-]+\]|[a-z_]+ = .*)$")


def relay_toml_with_erlc_uncommented() -> str:
    """relay.toml with `[erlc.servers.main]` and `[sources.erlc]` (and its options) uncommented, as the
    page says, and nothing else."""
    lines, on = [], False
    for line in (ROOT / "relay.toml").read_text().splitlines():
        if line.startswith(("# [sources.erlc]", "# [erlc.servers.main]")):
            on = True
        elif on and not COMMENTED_KEY.match(line):
            on = False
        lines.append(line[2:] if on else line)
    return "\n".join(lines) + "\n"


def page_commands() -> list[list[str]]:
    """Every command in the page's "Trying it locally" shell blocks, as argument lists."""
    section = PAGE.read_text().split("## Trying it locally", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for command in block.replace("\\\n", " ").splitlines():
            words = shlex.split(command, comments=True)
            if words:
                commands.append(words)
    return commands


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    from relay.handlers import wiring

    saved = dict(os.environ)
    workdir = tmp_path_factory.mktemp("erlc-page")
    (workdir / "relay.toml").write_text(relay_toml_with_erlc_uncommented())
    wiring.reset()
    stack = LocalStack(
        LocalOptions(
            config=workdir / "relay.toml",
            secrets=workdir / "relay.secrets.toml",
            template=ROOT / "template.yaml",
            port=0,
            emulator_port=0,
            erlc_emulator_port=0,
            roster_poll_seconds=1.0,
            window_seconds=0.2,
            state_file=workdir / ".local" / "relay-local.json",
        )
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        wiring.reset()
        os.environ.clear()
        os.environ.update(saved)


def curl(words: list[str], erlc_url: str) -> None:
    """The page's curl line, against the emulator where this stack runs it."""
    method = words[words.index("-X") + 1] if "-X" in words else "GET"
    url = next(w for w in words if w.startswith("http")).replace("http://127.0.0.1:4020", erlc_url)
    body = words[words.index("-d") + 1].encode() if "-d" in words else None
    request = urllib.request.Request(url, data=body, method=method)
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status < 300


def units(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["units", "erlc"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # (this process's handlers print their EMF lines to the same stdout: the listing starts at "[")
    start = next(i for i, line in enumerate(lines) if line in ("[", "[]"))
    end = next(i for i, line in enumerate(lines) if i >= start and line in ("]", "[]"))
    listed = json.loads("\n".join(lines[start : end + 1]))
    return {unit["id"]: unit for unit in listed}


def calls(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """`relay calls erlc`: {"calls": [...], "panics": [...]} (its JSON starts at a line "{")."""
    assert main(["calls", "erlc"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("{")
    end = next(i for i, line in enumerate(lines) if i >= start and line == "}")
    held: dict[str, Any] = json.loads("\n".join(lines[start : end + 1]))
    return held


def until(
    check: Any, capsys: pytest.CaptureFixture[str], seconds: float = 60, read: Any = units
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    found: dict[str, Any] = read(capsys)
    while not check(found) and time.monotonic() < deadline:
        time.sleep(0.3)
        found = read(capsys)
    return found


def the_call(held: dict[str, Any], description: str) -> dict[str, Any]:
    return next((c for c in held["calls"] if c.get("description") == description), {})


def test_the_erlc_page_works_as_written(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stack.options.state_file is not None
    monkeypatch.setattr(state, "DEFAULT_STATE_FILE", stack.options.state_file)
    commands = page_commands()
    assert commands[0][:3] == ["make", "run", "ARGS=--poll-every 5"]
    joins, signs = commands[1], [c for c in commands if c[:2] == [".venv/bin/relay", "sign"]]
    leave = next(c for c in commands if c[0] == "curl" and "DELETE" in c)
    # The player joins: the unit is in the MDT, on duty, in the department the page's block maps
    curl(joins, stack.erlc_url)
    found = until(lambda u: "1A-12" in u, capsys)
    assert (found["1A-12"]["department"], found["1A-12"]["status"]) == ("Patrol", "10-8")
    # The sample command sets 10-6; `;status available` sets 10-8 through relay.toml's value_maps
    for words, status in zip(signs[:2], ("10-6", "10-8"), strict=True):
        assert main(words[1:]) == 0, capsys.readouterr()
        assert "\nwritten\n" in capsys.readouterr().out
        assert units(capsys)["1A-12"]["status"] == status
    # The player leaves: after absent_polls polls the unit is off duty
    curl(leave, stack.erlc_url)
    found = until(lambda u: u["1A-12"]["status"] == "10-7", capsys)
    assert found["1A-12"]["status"] == "10-7"
    # Back in game, the page's 911 call: opened in the game, it is a call in the MDT; a responder is
    # their unit; ended, the call is closed
    curl(joins, stack.erlc_url)
    until(lambda u: u["1A-12"]["status"] == "10-8", capsys)
    call_lines = [c for c in commands if c[0] == "curl" and any("/_emulator/calls" in w for w in c)]
    opened, responds, ends = call_lines[:3]
    curl(opened, stack.erlc_url)
    held = until(lambda h: the_call(h, "Shots fired"), capsys, read=calls)
    assert the_call(held, "Shots fired")["location"] == "Bank"
    curl(responds, stack.erlc_url)
    held = until(lambda h: the_call(h, "Shots fired")["units_assigned"] == ["1A-12"], capsys, read=calls)
    assert the_call(held, "Shots fired")["units_assigned"] == ["1A-12"]
    curl(ends, stack.erlc_url)
    held = until(lambda h: the_call(h, "Shots fired")["status"] == "closed", capsys, read=calls)
    assert the_call(held, "Shots fired")["status"] == "closed"
    # The Event Webhook's samples: a 911 call, and B_Bubbleton's ;panic
    call_sample, panic_sample = signs[2:]
    assert main(call_sample[1:]) == 0, capsys.readouterr()
    assert the_call(calls(capsys), "Shots fired near the bank")["location"] == "Springfield Bank"
    assert main(panic_sample[1:]) == 0, capsys.readouterr()
    assert [panic["unit_id"] for panic in calls(capsys)["panics"]] == ["1A-12"]
