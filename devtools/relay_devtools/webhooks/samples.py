"""A body a source's adapter reads, for `relay sign` when none is given: the demo unit for `units`,
else the sender's first sample from events/, or the one its options call for (a SnailyCAD source set
for CALL_911 gets a call) (its kind's SenderFacts: relay.sources.registry).

A sample's event times are set to now (`stamped`) as its sender would set them: every sample names
ADAM-12, so a sample at its file's fixed time, sent after any newer change of that unit, would be
skipped as older and the source would look broken. Stamped, each source's sample is written in
whatever order they are sent."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relay.sources.registry import KINDS, adapter_kind

DEMO_BODY = {
    "units": [
        {
            "id": "ADAM-12",
            "officer_name": "B. Bubbleton",
            "officer_badge": "512",
            "department": "Patrol",
            "rank": "PO",
            "status": "10-8",
        }
    ]
}
EVENTS = Path(__file__).resolve().parents[3] / "events"


def default_body(adapter: str, options: Mapping[str, Any] | None = None) -> tuple[bytes, str]:
    """A body the adapter reads (with these options), and where it came from."""
    if adapter == "units":
        return json.dumps(DEMO_BODY).encode(), "the demo unit"
    sender = adapter_kind(adapter).sender if adapter in KINDS else None
    samples = sender.samples if sender is not None else ()
    chosen = sender.sample_for(options or {}) if sender is not None and sender.sample_for else None
    sample = chosen or (samples[0] if samples else None)
    if sample is None or not (EVENTS / sample).is_file():
        raise SystemExit(
            f"relay sign: no sample body for the {adapter!r} adapter: give one with --file or --body"
        )
    return (EVENTS / sample).read_bytes(), f"events/{sample}"


# Keys that hold an event time in the samples (Typeform submitted_at, SnailyCAD updatedAt, ER:LC
# Timestamp, Discord's embed timestamp, the board's updated_at, ...).
_TIME_KEY = re.compile(r"(^|_)(at|time|timestamp)$|[a-z](At|Time)$", re.IGNORECASE)
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


def _now_like(value: Any, now: datetime) -> Any:
    """`now` as `value` is written: ISO 8601 text, epoch seconds or ms. The text always carries its
    milliseconds: cut to the second, a sample would be older than a change received a moment before."""
    if isinstance(value, str) and _ISO.match(value):
        return now.strftime("%Y-%m-%dT%H:%M:%S") + f".{now.microsecond // 1000:03d}Z"
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 10**9:
        epoch = now.timestamp() * (1000 if value > 10**12 else 1)
        return int(epoch) if isinstance(value, int) else epoch
    return value


def _stamp(node: Any, now: datetime) -> Any:
    if isinstance(node, dict):
        return {
            key: _now_like(value, now) if _TIME_KEY.search(key) else _stamp(value, now)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_stamp(item, now) for item in node]
    return node


def stamped(body: bytes, now: datetime | None = None, delivery_id_path: str | None = None) -> bytes:
    """The sample as a new event of its sender: every event time it holds set to `now` (default: the
    current time) and, where the source names each delivery by a field of the body (`delivery_id_path`,
    a dotted path: Typeform's event_id), a fresh id there, so it is not answered as a replay."""
    data = _stamp(json.loads(body), now or datetime.now(UTC))
    *parents, last = (delivery_id_path or "").split(".")
    node = data
    for key in parents:
        node = node.get(key) if isinstance(node, dict) else None
    if delivery_id_path and isinstance(node, dict) and last in node:
        node[last] = f"relay-sign-{uuid.uuid4().hex}"
    return json.dumps(data, indent=2).encode()
