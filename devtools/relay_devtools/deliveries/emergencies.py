"""Calls and panics in the delivery trail: what the consumer's "emergency outcomes" rows say, as fates.

Each row names one sender call (`kind` call, `key` its sender's id, `target` the Northca call) or one
panic (`kind` panic, `key` the unit) with its outcome and the webhooks behind it (relay.consumer
.emergencies). A fate is named `call <key>` or `panic <unit>`, beside the delivery's units.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relay_devtools.deliveries.lines import pairs, texts

# The consumer's row outcome -> the trail's fate outcome (written | skipped | retrying | refused |
# dead-lettered), and why a skipped one was skipped when the row says nothing more.
OUTCOMES: Mapping[str, str] = {
    "created": "written",
    "updated": "written",
    "sent": "written",
    "unchanged": "skipped",
    "superseded": "skipped",
    "held": "skipped",
    "gone": "skipped",
    "repeat": "skipped",
    "waiting": "retrying",
    "given back": "retrying",
    "refused": "refused",
    "dead-lettered": "dead-lettered",
}


def fate_name(kind: str, key: str) -> str:
    return f"{kind} {key}"


def accepted_names(record: Mapping[str, Any]) -> list[str]:
    """The calls and panics an ingress "webhook accepted" line names, as fate names."""
    calls = [fate_name("call", key) for key in texts(record.get("calls"))]
    return calls + [fate_name("panic", unit) for unit in texts(record.get("panics"))]


def checked_emergency(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """One emergency outcome, its shapes checked before anything of it is applied (OddLineError)."""
    texts(row.get("webhook_ids"))
    pairs(row.get("written"))
    return row


def fate_of(row: Mapping[str, Any]) -> tuple[str, str, str, dict[str, str]]:
    """(fate name, outcome, why, what was written) of one "emergency outcomes" row."""
    kind, key = str(row.get("kind") or "call"), str(row.get("key") or "")
    result = str(row.get("outcome") or "")
    outcome = OUTCOMES.get(result, "retrying")
    written = pairs(row.get("written"))
    target = str(row.get("target") or "")
    detail = str(row.get("detail") or "")
    if result in ("created", "updated"):
        why = f"{result} Northca call {target}" + (f" ({detail})" if detail else "")
    elif result == "sent":
        why = f"panic sent for {written.get('unit', target)}" + (f" ({detail})" if detail else "")
    elif result == "refused":
        why = f"refused by the partner: {detail}"
    else:
        why = f"{result}: {detail}" if detail else result
    return fate_name(kind, key), outcome, why, written
