"""A body a source's adapter reads, for `relay sign` when none is given: the demo unit for `units`,
else the sender's sample from events/."""

from __future__ import annotations

import json
from pathlib import Path

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
# The sample `relay sign` sends for a source when no body is given: one its adapter reads.
SAMPLES = {
    "erlc-events": "erlc_event_command.json",
    "sonoran": "sonoran_unit_login.json",
    "snailycad": "snailycad_unit_status.json",
    "typeform": "typeform_response.json",
    "tally": "tally_response.json",
    "google-forms": "google_forms_submission.json",
    "discord": "discord_embed.json",
}


def default_body(adapter: str) -> tuple[bytes, str]:
    """A body the adapter reads, and where it came from."""
    if adapter == "units":
        return json.dumps(DEMO_BODY).encode(), "the demo unit"
    sample = SAMPLES.get(adapter)
    if sample is None or not (EVENTS / sample).is_file():
        raise SystemExit(
            f"relay sign: no sample body for the {adapter!r} adapter: give one with --file or --body"
        )
    return (EVENTS / sample).read_bytes(), f"events/{sample}"
