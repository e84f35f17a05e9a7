"""Durations as relay.toml writes them: `90s`, `30m`, `2h`, `1d` (a whole number and its unit)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"^\s*([0-9]{1,6})\s*([smhd])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A week: longer than any quiet period a source could be expected to end.
MAX_DURATION_SECONDS = 7 * 86400


def parse_duration(value: object) -> int:
    """Seconds, from `30m` and the like; a ValueError (pydantic names the key) for anything else."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError('expected a duration such as "30m", "2h" or "1d"')
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f'{value!r} is not a duration such as "30m", "2h" or "1d"')
    seconds = int(match[1]) * _SECONDS[match[2]]
    if not 60 <= seconds <= MAX_DURATION_SECONDS:
        raise ValueError(f"{value!r}: expected between 1 minute and 7 days")
    return seconds


def shown(seconds: int) -> str:
    """A duration as relay.toml would write it (the largest whole unit)."""
    for unit in ("d", "h", "m"):
        if seconds % _SECONDS[unit] == 0:
            return f"{seconds // _SECONDS[unit]}{unit}"
    return f"{seconds}s"


def parse_optional_duration(value: object) -> int | None:
    """As parse_duration; `"off"` (or nothing) is None."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "off"):
        return None
    return parse_duration(value)


def _written(seconds: int | None) -> str | None:
    return None if seconds is None else shown(seconds)


# Seconds in the model, text in relay.toml; "off" is None. Dumped as JSON, text again: a config dumped
# and read back is the same config.
Duration = Annotated[
    int | None, BeforeValidator(parse_optional_duration), PlainSerializer(_written, when_used="json")
]
