from __future__ import annotations

from datetime import UTC, datetime

import pytest

from relay.config import StandardWebhooksSignature
from relay.errors import AuthenticationError
from relay.signatures import SignedRequest, sign_standard_webhooks, verify_signature

CONFIG = StandardWebhooksSignature(scheme="standard-webhooks", secret="relay/sources/cad")
# The published known-answer vector of the Standard Webhooks reference libraries.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
AT_SIGNING = datetime.fromtimestamp(TIMESTAMP, UTC)


def request(body: bytes = BODY, **headers: str) -> SignedRequest:
    base = {"webhook-id": MSG_ID, "webhook-timestamp": str(TIMESTAMP), "webhook-signature": SIGNATURE}
    base.update({k.replace("_", "-"): v for k, v in headers.items()})
    return SignedRequest(body=body, headers=base, now=AT_SIGNING)


def test_standard_webhooks_known_answer_vector() -> None:
    assert sign_standard_webhooks(SECRET, MSG_ID, TIMESTAMP, BODY) == SIGNATURE
    assert verify_signature(CONFIG, request(), [SECRET]).delivery_id == MSG_ID


def test_standard_webhooks_rejects_a_tampered_body() -> None:
    with pytest.raises(AuthenticationError):
        verify_signature(CONFIG, request(body=BODY + b" "), [SECRET])


def test_standard_webhooks_accepts_any_of_several_secrets_and_signatures() -> None:
    other = "whsec_" + "A" * 32
    header = f"v1a,abc v2,xyz v1,AAAA {SIGNATURE}"
    assert verify_signature(CONFIG, request(webhook_signature=header), [other, SECRET])
