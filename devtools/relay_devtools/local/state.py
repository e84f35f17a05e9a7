"""Where a running `relay local` serves: it writes this file when it is ready and removes it when it
stops, so the commands run beside it (`relay sign`, `relay units`, `relay doctor`, `relay redrive`,
`relay secrets push --local`) need no flags, whatever ports and files it was started with."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# Relative to the folder `relay local` runs in (git-ignored, like the rest of .local/).
DEFAULT_STATE_FILE = Path(".local/relay-local.json")
# relay local's moto takes any credentials; these keep the operator's real ones out of its requests.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


def read_local_state(path: Path = DEFAULT_STATE_FILE) -> dict[str, Any] | None:
    """The running stack's endpoints, or None when no stack wrote the file here."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    except OSError:
        return False
    return True


def running_local_state(path: Path | None = None) -> dict[str, Any] | None:
    """The state of a `relay local` that still runs (a file left by one killed outright is ignored);
    `path` defaults to DEFAULT_STATE_FILE as it is at the call (the suites point it elsewhere)."""
    state = read_local_state(path if path is not None else DEFAULT_STATE_FILE)
    return state if state is not None and _alive(state.get("pid")) else None


def local_client_options(state: dict[str, Any]) -> dict[str, str]:
    """boto3 client options for the running stack's moto."""
    return {
        "endpoint_url": str(state["aws_endpoint"]),
        "region_name": str(state["region"]),
        **LOCAL_CREDENTIALS,
    }
