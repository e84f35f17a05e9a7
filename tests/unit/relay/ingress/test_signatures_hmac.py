"""hmac-sha256: GitHub, Typeform, Tally and an Apps Script sender with a timestamp, on the pure verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

import pytest

from relay.config.schema import HmacSha256Signature
from relay.errors import UnusableSecretError, VerificationError
from relay.ingress.signatures import SignedRequest, sign_hmac_sha256, verify_signature
from tests.support.constants import NOW

GITHUB = HmacSha256Signature(
    scheme="hmac-sha256",
    secret="relay/sources/github",
    header="X-Hub-Signature-256",
    prefix="sha256=",
    encoding="hex",
    delivery_id_header="X-GitHub-Delivery",
)
TYPEFORM = HmacSha256Signature(
    scheme="hmac-sha256", secret="s", header="Typeform-Signature", prefix="sha256=", encoding="base64"
)
TALLY = HmacSha256Signature(scheme="hmac-sha256", secret="s", header="Tally-Signature", encoding="base64")
APPS_SCRIPT = HmacSha256Signature(
    scheme="hmac-sha256",
    secret="s",
    header="X-Relay-Signature",
    encoding="base64",
    timestamp_header="X-Relay-Timestamp",
    tolerance_seconds=300,
)
# GitHub's published example (docs "Validating webhook deliveries").
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
SECRET = "a-form-secret"
BODY = b'{"event_id":"01HV","form_response":{"answers":[]}}'


def github_request(body: bytes = GITHUB_BODY, **headers: str | None) -> SignedRequest:
    base: dict[str, str | None] = {
        "x-hub-signature-256": GITHUB_SIGNATURE,
        "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    }
    base.update({k.replace("_", "-"): v for k, v in headers.items()})
    return SignedRequest(body, {k: v for k, v in base.items() if v is not None}, NOW)


def test_hmac_github_known_answer_vector_and_delivery_id() -> None:
    # Given GitHub's published vector / When verified / Then it passes, and the delivery id header is
    # known as what it is: an id the signature does not cover, beside the signed body's digest
    assert sign_hmac_sha256(GITHUB, GITHUB_SECRET, GITHUB_BODY, None) == GITHUB_SIGNATURE
    verified = verify_signature(GITHUB, github_request(), [GITHUB_SECRET])
    assert verified.delivery_id is None
    assert verified.unsigned_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert verified.body_digest == hashlib.sha256(GITHUB_BODY).hexdigest()
    assert verified.signed_digest is None  # no timestamp: an identical body later may be a new event


def test_hmac_github_without_a_delivery_header_still_verifies_with_no_id() -> None:
    assert (
        verify_signature(GITHUB, github_request(x_github_delivery=None), [GITHUB_SECRET]).unsigned_id is None
    )


def test_hmac_typeform_base64_with_prefix() -> None:
    mac = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()
    request = SignedRequest(BODY, {"typeform-signature": "sha256=" + mac}, NOW)
    assert verify_signature(TYPEFORM, request, [SECRET])


def test_hmac_tally_base64_without_prefix() -> None:
    mac = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()
    assert verify_signature(TALLY, SignedRequest(BODY, {"tally-signature": mac}, NOW), [SECRET])
    # Unpadded base64 is the same MAC
    assert verify_signature(TALLY, SignedRequest(BODY, {"tally-signature": mac.rstrip("=")}, NOW), [SECRET])


def apps_script_request(
    timestamp: str, body: bytes = BODY, signed_timestamp: str | None = None
) -> SignedRequest:
    # What the Apps Script in docs/security.md computes: base64(HMAC(secret, ts + "." + body)).
    message = (signed_timestamp or timestamp).encode() + b"." + body
    mac = base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest()).decode()
    return SignedRequest(body, {"x-relay-signature": mac, "x-relay-timestamp": timestamp}, NOW)


def test_hmac_with_a_timestamp_signs_timestamp_dot_body() -> None:
    timestamp = str(int(NOW.timestamp()))
    verified = verify_signature(APPS_SCRIPT, apps_script_request(timestamp), [SECRET])
    # A timestamped scheme without an id gets the signed message's digest as its replay id
    assert verified.signed_digest == hashlib.sha256(f"{timestamp}.".encode() + BODY).hexdigest()
    assert (
        sign_hmac_sha256(APPS_SCRIPT, SECRET, BODY, timestamp)
        == apps_script_request(timestamp).headers["x-relay-signature"]
    )


def test_hmac_timestamp_header_is_bound_to_the_signature() -> None:
    # Given a signature over one timestamp, sent with another (a replay with a fresh timestamp)
    now = str(int(NOW.timestamp()))
    earlier = str(int(NOW.timestamp()) - 100)
    with pytest.raises(VerificationError) as caught:
        verify_signature(APPS_SCRIPT, apps_script_request(now, signed_timestamp=earlier), [SECRET])
    assert caught.value.kind == "mismatch"


@pytest.mark.parametrize(("offset", "accepted"), [(-300, True), (300, True), (-301, False), (301, False)])
def test_hmac_timestamp_tolerance_both_sides(offset: int, accepted: bool) -> None:
    timestamp = str(int((NOW + timedelta(seconds=offset)).timestamp()))
    if accepted:
        assert verify_signature(APPS_SCRIPT, apps_script_request(timestamp), [SECRET])
    else:
        with pytest.raises(VerificationError) as caught:
            verify_signature(APPS_SCRIPT, apps_script_request(timestamp), [SECRET])
        assert caught.value.kind == "timestamp"
        assert str(caught.value) == "Unauthorized"  # the reason is for the log only


@pytest.mark.parametrize("timestamp", ["soon", "1.5", "-5", "0x10", "١٢٣", "1e9"])
def test_hmac_non_integer_timestamps_are_malformed(timestamp: str) -> None:
    with pytest.raises(VerificationError) as caught:
        verify_signature(APPS_SCRIPT, apps_script_request(timestamp), [SECRET])
    assert caught.value.kind == "malformed"


def test_hmac_missing_timestamp_when_one_is_configured() -> None:
    request = apps_script_request(str(int(NOW.timestamp())))
    without = SignedRequest(request.body, {"x-relay-signature": request.headers["x-relay-signature"]}, NOW)
    with pytest.raises(VerificationError) as caught:
        verify_signature(APPS_SCRIPT, without, [SECRET])
    assert caught.value.kind == "missing"


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        (GITHUB_SIGNATURE.removeprefix("sha256="), "malformed"),  # prefix missing
        ("sha1=" + GITHUB_SIGNATURE[7:], "malformed"),
        (GITHUB_SIGNATURE[:-1], "malformed"),  # truncated
        (GITHUB_SIGNATURE + "0", "malformed"),  # one digit too many
        ("sha256=" + "g" * 64, "malformed"),
        ("sha256=", "malformed"),
        ("sha256=" + "0" * 64, "mismatch"),
        (GITHUB_SIGNATURE[:-1] + "f", "mismatch"),
        (GITHUB_SIGNATURE.upper().replace("SHA256=", "sha256="), "accepted"),  # hex is case-insensitive
        (f"sha256={'0' * 64},{GITHUB_SIGNATURE}", "accepted"),  # two headers joined by API Gateway
        (f"sha256={'0' * 64}, sha256={'1' * 64}", "mismatch"),
    ],
)
def test_hmac_github_signature_header_forms(header: str, kind: str) -> None:
    request = github_request(x_hub_signature_256=header)
    if kind == "accepted":
        assert verify_signature(GITHUB, request, [GITHUB_SECRET])
        return
    with pytest.raises(VerificationError) as caught:
        verify_signature(GITHUB, request, [GITHUB_SECRET])
    assert caught.value.kind == kind


@pytest.mark.parametrize("body", [GITHUB_BODY + b" ", GITHUB_BODY[:-1], b"Hello, World?", b""])
def test_hmac_github_tampered_bodies(body: bytes) -> None:
    with pytest.raises(VerificationError):
        verify_signature(GITHUB, github_request(body=body), [GITHUB_SECRET])


def test_hmac_wrong_secret_and_rotation() -> None:
    with pytest.raises(VerificationError):
        verify_signature(GITHUB, github_request(), ["It's a Secret to Nobody"])
    assert verify_signature(GITHUB, github_request(), ["It's a Secret to Nobody", GITHUB_SECRET])


def test_hmac_empty_secrets_are_unusable() -> None:
    with pytest.raises(UnusableSecretError):
        verify_signature(GITHUB, github_request(), ["", "  "])


def test_hmac_missing_and_oversized_signature_headers() -> None:
    with pytest.raises(VerificationError) as missing:
        verify_signature(GITHUB, github_request(x_hub_signature_256=None), [GITHUB_SECRET])
    assert missing.value.kind == "missing"
    with pytest.raises(VerificationError) as huge:
        verify_signature(GITHUB, github_request(x_hub_signature_256=GITHUB_SIGNATURE * 100), [GITHUB_SECRET])
    assert huge.value.kind == "malformed"


def test_hmac_a_delivery_id_that_is_not_text_is_ignored() -> None:
    verified = verify_signature(GITHUB, github_request(x_github_delivery="id-\ud800"), [GITHUB_SECRET])
    assert verified.unsigned_id is None
