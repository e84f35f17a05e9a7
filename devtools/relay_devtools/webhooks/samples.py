"""A body a source's adapter reads, for `relay sign` when none is given: the demo unit for `units`,
else the sender's first sample from events/, or the one its options call for (a SnailyCAD source set
for CALL_911 gets a call) (its kind's SenderFacts: relay.sources.registry)."""

from __future__ import annotations

import json
from collections.abc import Mapping
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
