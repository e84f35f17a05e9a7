"""A body a source's adapter reads, for `relay sign` when none is given: the demo unit for `units`,
else the sender's first sample from events/ (its kind's SenderFacts: relay.sources.registry)."""

from __future__ import annotations

import json
from pathlib import Path

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


def default_body(adapter: str) -> tuple[bytes, str]:
    """A body the adapter reads, and where it came from."""
    if adapter == "units":
        return json.dumps(DEMO_BODY).encode(), "the demo unit"
    samples = adapter_kind(adapter).sender.samples if adapter in KINDS else ()
    sample = samples[0] if samples else None
    if sample is None or not (EVENTS / sample).is_file():
        raise SystemExit(
            f"relay sign: no sample body for the {adapter!r} adapter: give one with --file or --body"
        )
    return (EVENTS / sample).read_bytes(), f"events/{sample}"
