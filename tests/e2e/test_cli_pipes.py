"""`relay map ... | head`: a reader that stops early ends the command quietly, without a traceback."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.constants import ROOT
from tests.support.local import environment, relay_executable


def test_cli_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    # Given far more output than a pipe holds (each payload prints its queue messages)
    shutil.copy(ROOT / "relay.toml", tmp_path / "relay.toml")
    body = tmp_path / "body.json"
    body.write_text('{"units": [{"id": "ADAM-12", "status": "10-8", "officer_name": "B. Bubbleton"}]}')
    process = subprocess.Popen(
        [relay_executable(), "map", "cad", *[str(body)] * 400],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(),
    )
    assert process.stdout is not None and process.stderr is not None
    # When the reader takes a line and goes away (as `head -1` does)
    process.stdout.readline()
    process.stdout.close()
    errors = process.stderr.read().decode()
    process.wait(timeout=60)
    # Then nothing but the output is cut short
    assert "Traceback" not in errors
    assert "BrokenPipeError" not in errors
