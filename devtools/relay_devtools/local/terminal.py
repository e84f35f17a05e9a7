"""relay local's terminal, for a person: one line per answer and per unit outcome instead of the relay's
JSON log lines and EMF blobs. The JSON lines are kept whole in a file (`.local/relay-local.log`) and
in the deliveries feed; `relay local --log-format json` prints them as Lambda would.

`TerminalLines.install` swaps the relay logger's terminal handlers for this one and a file handler
(the same formatter: the file's lines are the ones CloudWatch would hold); `remove` puts them back.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from relay_devtools.deliveries.trail import parse_log_message
from relay_devtools.options import printable

DEFAULT_LOG_FILE = Path(".local/relay-local.log")
# The ingress's answer lines, and what the terminal calls each.
ANSWERS = {
    "webhook accepted": "accepted",
    "webhook replayed: already queued": "replayed (already queued)",
    "webhook refused": "refused",
    "webhook rejected": "rejected",
    "webhook not queued, sender should retry": "not queued (the sender retries)",
}
SHOWN = frozenset({*ANSWERS, "unit outcomes", "message dead-lettered"})
# Lines every tick or invocation writes that tell a person nothing new.
QUIET = {"roster poll": ("ok", "unchanged")}
DETAIL_KEYS = (
    *("source", "player", "status", "event_type", "reason", "error", "detail", "server", "result", "warning"),
)


def _clock(record: Mapping[str, Any]) -> str:
    stamp = str(record.get("timestamp") or "")
    return stamp[11:19] if len(stamp) >= 19 else stamp


def _changes(count: object) -> str:
    return "1 change" if count == 1 else f"{count if isinstance(count, int) else 0} changes"


def _answer_line(record: Mapping[str, Any], said: str) -> str:
    status = record.get("status")
    parts = [f"{record.get('source') or '-'}", f"{status if status is not None else '-'} {said}"]
    if said == "accepted":
        units = record.get("units") or []
        label = record.get("label") or (", ".join(map(str, units)) if isinstance(units, list) else "")
        parts.append(_changes(record.get("changes")) + (f": {label}" if label else ""))
    elif said == "rejected":
        parts.append(f"{record.get('kind') or 'unauthorized'}: {record.get('reason') or ''}".rstrip(": "))
    elif record.get("error"):
        parts.append(str(record["error"]))
    if record.get("webhook_id"):
        parts.append(str(record["webhook_id"]))
    return "  ".join(parts)


def _unit_lines(record: Mapping[str, Any]) -> list[str]:
    lines = []
    units = record.get("units")
    for unit in units if isinstance(units, list) else []:
        if not isinstance(unit, dict):
            continue
        sources = ",".join(map(str, unit.get("sources") or [])) or "-"
        text = f"{sources}  {unit.get('unit_id')}: {unit.get('outcome')}"
        written = unit.get("written")
        if isinstance(written, dict) and written:
            text += " " + ", ".join(f"{k}={v!r}" for k, v in sorted(written.items()))
        if unit.get("detail"):
            text += f" ({unit['detail']})"
        lines.append(text)
    return lines


def render(record: Mapping[str, Any]) -> list[str]:
    """A relay log line as the terminal shows it: none, one, or one per unit."""
    message = str(record.get("message") or "")
    level = str(record.get("level") or "")
    if message in ANSWERS:
        lines = [_answer_line(record, ANSWERS[message])]
    elif message == "unit outcomes":
        lines = _unit_lines(record)
    elif message in QUIET and record.get("result") in QUIET[message]:
        return []
    else:
        details = ", ".join(f"{k}={record[k]}" for k in DETAIL_KEYS if record.get(k) not in (None, ""))
        mark = "" if level == "INFO" else f"{level} "
        lines = [f"{mark}{message}" + (f" ({details})" if details else "")]
    return [printable(f"{_clock(record)}  {line}") for line in lines]


class TerminalLines(logging.Handler):
    """The relay logger's records, rendered for a person on `stream`."""

    def __init__(self, formatter: logging.Formatter, stream: TextIO | None = None) -> None:
        super().__init__(level=logging.INFO)
        self.setFormatter(formatter)
        self.stream = stream
        self._replaced: list[logging.Handler] = []
        # The level the terminal was given (POWERTOOLS_LOG_LEVEL): other lines below it are not shown;
        # the answers and unit outcomes always are (they are what a person runs relay local to see).
        self.others_level = logging.INFO
        self._file: logging.Handler | None = None
        self._log_file: Path | None = None
        self._logger: logging.Logger | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < self.others_level and record.getMessage() not in SHOWN:
            return
        try:
            parsed = parse_log_message(self.format(record))
            lines = render(parsed) if parsed is not None else []
            stream = self.stream or sys.stdout
            for line in lines:
                stream.write(line + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - a log line must never break the relay
            return

    @classmethod
    def instead_of_json(
        cls, python_logger: logging.Logger, formatter: logging.Formatter, stream: TextIO
    ) -> TerminalLines:
        """This handler, on `stream`, instead of the logger's terminal ones (`relay map`: the adapter's
        notes as sentences, its output JSON alone on stdout)."""
        terminal = cls(formatter, stream)
        terminal._logger = python_logger
        for handler in list(python_logger.handlers):
            if isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) in (
                sys.stdout,
                sys.stderr,
            ):
                python_logger.removeHandler(handler)
                terminal._replaced.append(handler)
        python_logger.addHandler(terminal)
        return terminal

    @classmethod
    def install(
        cls, python_logger: logging.Logger, formatter: logging.Formatter, log_file: Path
    ) -> TerminalLines:
        """This handler instead of the logger's terminal ones; the JSON lines to `log_file` once started."""
        terminal = cls.instead_of_json(python_logger, formatter, sys.stdout)
        terminal.stream = None  # sys.stdout as it is at each line
        levels = [handler.level for handler in terminal._replaced]
        terminal.others_level = max([logging.INFO, python_logger.getEffectiveLevel(), *levels])
        terminal._log_file = log_file
        # EMF metric blobs are printed, not logged: nobody reads them from relay local's terminal.
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        return terminal

    def started(self) -> None:
        """After the stack started (it lifts every handler to the terminal's level, and a stack that
        could not start writes no file): the answers and outcomes to the terminal, every line to the file."""
        self.setLevel(logging.INFO)
        if self._log_file is None or self._logger is None or self._file is not None:
            return
        self._log_file.parent.mkdir(parents=True, exist_ok=True)
        self._file = logging.FileHandler(self._log_file, encoding="utf-8")
        self._file.setFormatter(self.formatter or logging.Formatter())
        self._file.setLevel(logging.INFO)
        self._logger.addHandler(self._file)

    def remove(self) -> None:
        if self._logger is None:
            return
        self._logger.removeHandler(self)
        if self._file is not None:
            self._logger.removeHandler(self._file)
            self._file.close()
        for handler in self._replaced:
            self._logger.addHandler(handler)
        self._logger = None
