"""What identifies a delivery to the replay guard: only what its sender signed (issue #10, item 4)."""

from __future__ import annotations

import pytest

from relay.ingress.replay import replay_id
from relay.ingress.signatures import Verified

DIGEST = "ab" * 32


@pytest.mark.parametrize(
    ("verified", "body_id", "expected"),
    [
        # Standard Webhooks: webhook-id is inside the signed message
        (Verified(delivery_id="msg_1"), None, "msg_1"),
        (Verified(delivery_id="msg_1"), "evt-9", "msg_1"),
        # A delivery_id_path in a signed body (Tally's eventId, Typeform's event_id)
        (Verified(body_digest=DIGEST), "evt-9", "evt-9"),
        (Verified(signed_digest=DIGEST), "evt-9", "evt-9"),
        # A signed timestamp: the digest of timestamp + body, whatever unsigned id comes with it
        (Verified(signed_digest=DIGEST), None, f"sha256:{DIGEST}"),
        (Verified(unsigned_id="X-1", signed_digest=DIGEST), None, f"sha256:{DIGEST}"),
        # No timestamp: an unsigned id only together with the signed body's digest
        (Verified(unsigned_id="gh-1", body_digest=DIGEST), None, f"gh-1#sha256:{DIGEST}"),
        # Nothing signed but the body, and no id: no replay key (relay.toml warns about the source)
        (Verified(body_digest=DIGEST), None, None),
        # body-key and url-token sign nothing: the body's id is the only id there is
        (Verified(), "2_ABaO", "2_ABaO"),
        (Verified(), None, None),
    ],
)
def test_replay_id_comes_only_from_signed_material(
    verified: Verified, body_id: str | None, expected: str
) -> None:
    assert replay_id(verified, body_id) == expected


def test_a_fresh_unsigned_id_never_makes_a_timestamped_replay_new() -> None:
    # Given the same signed timestamp and body, resent with another delivery id header, or none
    keys = {
        replay_id(Verified(unsigned_id=fresh, signed_digest=DIGEST), None) for fresh in ("d-1", "d-2", None)
    }
    # Then it is one delivery
    assert keys == {f"sha256:{DIGEST}"}
