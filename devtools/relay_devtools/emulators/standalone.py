"""An emulator run on its own (`python -m relay_devtools.emulators.northca`, `... .erlc`): it serves
until SIGTERM or Ctrl-C, then stops cleanly (exit 0), and says where it listens on stderr."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)


def serve_until_stopped(name: str, start: Callable[[], str], stop: Callable[[], None]) -> int:
    """`start()` serves in the background and returns the URL; `stop()` ends it."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    done = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_term)
    url = start()
    log.info("%s listening on %s", name, url)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
    return 0
