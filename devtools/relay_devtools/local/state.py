"""Where a running `relay local` serves: it writes this file when it is ready and removes it when it
stops, so the commands run beside it (`relay redrive`, `relay sign --wait`) need no flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Relative to the folder `relay local` runs in (git-ignored, like the rest of .local/).
DEFAULT_STATE_FILE = Path(".local/relay-local.json")


def read_local_state(path: Path = DEFAULT_STATE_FILE) -> dict[str, Any] | None:
    """The running stack's endpoints, or None when no stack wrote the file here."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
