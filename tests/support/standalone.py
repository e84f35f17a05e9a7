"""An emulator run on its own, as a person runs it (`python -m relay_devtools.emulators.NAME ...`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.constants import ROOT


@contextmanager
def standalone_emulator(module: str, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The process and the URL it says it listens on (killed after 20 s whatever happens)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "devtools"), str(ROOT / "functions")])}
    proc = subprocess.Popen([sys.executable, "-m", module, *args], env=env, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(20, proc.kill)
    watchdog.start()
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"http://\S+", line)
        assert found, line
        yield proc, found.group(0)
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
