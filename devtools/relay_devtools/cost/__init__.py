"""`relay cost`: the monthly AWS bill of a stack, by service, from AWS calls counted by running the relay
(counting.py, counted.json) and a dated, cited price table (prices.py); model.py puts them together.
docs/cost.md shows the figures for a typical community and per million webhooks."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_capture(logs: io.StringIO, emf: io.StringIO) -> Iterator[None]:
    """The relay's log lines, at INFO as deployed (template.yaml's LogLevel), into `logs` exactly as the
    function writes them for Lambda; its EMF metric lines (printed) into `emf`. Nothing reaches the
    terminal."""
    from relay.observability import logger

    handler = logger.registered_handler
    previous_stream = handler.setStream(logs) if isinstance(handler, logging.StreamHandler) else None
    previous_level = logger.log_level
    logger.setLevel("INFO")
    try:
        with contextlib.redirect_stdout(emf):
            yield
    finally:
        logger.setLevel(previous_level)
        if previous_stream is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(previous_stream)
