"""ed25519 (ER:LC event webhooks, Discord style): timestamp + raw body, hex signature."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from relay.config.schema import Ed25519Signature
from relay.errors import UnusableSecretError, VerificationError
from relay.ingress.keys import load_ed25519_public_key
from relay.ingress.signatures import SignedRequest, verify_signature
from tests.support.constants import NOW

CONFIG = Ed25519Signature(scheme="ed25519", secret="relay/sources/erlc")
# PRC's published Event Webhook key, base64 SPKI/DER.
ERLC_PUBLIC_KEY = "MCowBQYDK2VwAyEAjSICb9pp0kHizGQtdG8ySWsDChfGqi+gyFCttigBNOA="
# A fixed sender key, so failures reproduce.
SENDER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = SENDER.public_key()
PUBLIC_RAW = PUBLIC.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
BODY = b'{"Type":"CustomCommand","Data":{"Player":"B_Bubbleton:1234567890","Command":";status 10-6"}}'
TIMESTAMP = str(int(NOW.timestamp()))


def request(body: bytes = BODY, timestamp: str = TIMESTAMP, signature: str | None = None) -> SignedRequest:
    signature = signature if signature is not None else SENDER.sign(timestamp.encode() + body).hex()
    headers = {"x-signature-ed25519": signature, "x-signature-timestamp": timestamp}
    return SignedRequest(body, {k: v for k, v in headers.items() if v}, NOW)


def test_ed25519_the_published_erlc_key_loads() -> None:
    key = load_ed25519_public_key(ERLC_PUBLIC_KEY)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert isinstance(key, Ed25519PublicKey)
    assert raw == base64.b64decode(ERLC_PUBLIC_KEY)[-32:]


@pytest.mark.parametrize(
    "encoded",
    [
        PUBLIC_RAW.hex(),  # Discord: 64 hex digits
        PUBLIC_RAW.hex().upper(),
        base64.b64encode(
            PUBLIC.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        ).decode(),  # ER:LC: base64 SPKI/DER
        base64.b64encode(PUBLIC_RAW).decode(),
        PUBLIC.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
    ],
)
def test_ed25519_verifies_with_the_key_in_any_accepted_encoding(encoded: str) -> None:
    verified = verify_signature(CONFIG, request(), [encoded])
    # No id in this scheme: the digest of the signed message is the replay id
    assert verified.delivery_id is None
    assert verified.signed_digest == hashlib.sha256(TIMESTAMP.encode() + BODY).hexdigest()


def test_ed25519_a_request_signed_by_another_key_is_rejected() -> None:
    # PRC's real key did not sign our test request
    with pytest.raises(VerificationError) as caught:
        verify_signature(CONFIG, request(), [ERLC_PUBLIC_KEY])
    assert caught.value.kind == "mismatch"


def test_ed25519_rotation_tries_every_key() -> None:
    assert verify_signature(CONFIG, request(), [ERLC_PUBLIC_KEY, PUBLIC_RAW.hex()])


@pytest.mark.parametrize("body", [BODY + b" ", BODY[:-1], BODY.replace(b"10-6", b"10-8"), b""])
def test_ed25519_tampered_bodies_are_rejected(body: bytes) -> None:
    signature = SENDER.sign(TIMESTAMP.encode() + BODY).hex()
    with pytest.raises(VerificationError):
        verify_signature(CONFIG, request(body=body, signature=signature), [PUBLIC_RAW.hex()])


def test_ed25519_the_timestamp_is_part_of_the_signed_message() -> None:
    signature = SENDER.sign(TIMESTAMP.encode() + BODY).hex()
    later = str(int(TIMESTAMP) + 1)
    with pytest.raises(VerificationError) as caught:
        verify_signature(CONFIG, request(timestamp=later, signature=signature), [PUBLIC_RAW.hex()])
    assert caught.value.kind == "mismatch"


@pytest.mark.parametrize(
    ("offset", "kind"), [(301, "timestamp"), (-301, "timestamp"), (300, None), (-300, None)]
)
def test_ed25519_timestamp_tolerance(offset: int, kind: str | None) -> None:
    timestamp = str(int((NOW + timedelta(seconds=offset)).timestamp()))
    if kind is None:
        assert verify_signature(CONFIG, request(timestamp=timestamp), [PUBLIC_RAW.hex()])
        return
    with pytest.raises(VerificationError) as caught:
        verify_signature(CONFIG, request(timestamp=timestamp), [PUBLIC_RAW.hex()])
    assert caught.value.kind == kind


@pytest.mark.parametrize(
    ("signature", "kind"),
    [
        ("", "missing"),
        ("zz" * 64, "malformed"),
        ("ab" * 63, "malformed"),  # 63 bytes
        ("ab" * 65, "malformed"),
        (base64.b64encode(b"x" * 64).decode(), "malformed"),  # base64, not hex
        ("00" * 64, "mismatch"),
    ],
)
def test_ed25519_malformed_signatures(signature: str, kind: str) -> None:
    with pytest.raises(VerificationError) as caught:
        verify_signature(CONFIG, request(signature=signature), [PUBLIC_RAW.hex()])
    assert caught.value.kind == kind


def test_ed25519_two_joined_signature_headers() -> None:
    good = SENDER.sign(TIMESTAMP.encode() + BODY).hex()
    assert verify_signature(CONFIG, request(signature=f"{'00' * 64},{good}"), [PUBLIC_RAW.hex()])


@pytest.mark.parametrize("timestamp", ["", "now", "1.0", "-1", f"{TIMESTAMP},{TIMESTAMP}"])
def test_ed25519_timestamps_that_are_not_integers(timestamp: str) -> None:
    with pytest.raises(VerificationError) as caught:
        verify_signature(CONFIG, request(timestamp=timestamp, signature="00" * 64), [PUBLIC_RAW.hex()])
    assert caught.value.kind in {"missing", "malformed"}


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "not a key",
        "ab" * 31,
        base64.b64encode(b"\x30\x03\x02\x01\x00").decode(),  # DER, but not a public key
        base64.b64encode(
            X25519PrivateKey.generate()
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        ).decode(),  # a key, but not Ed25519
        # PRC's key with an algorithm OID cryptography does not know (1.3.101.99): UnsupportedAlgorithm
        base64.b64encode(
            base64.b64decode(ERLC_PUBLIC_KEY).replace(
                bytes.fromhex("06032b6570"), bytes.fromhex("06032b6563")
            )
        ).decode(),
    ],
)
def test_ed25519_unusable_public_keys(secret: str) -> None:
    with pytest.raises(UnusableSecretError):
        verify_signature(CONFIG, request(), [secret])


def test_ed25519_a_key_of_an_unknown_algorithm_is_an_unusable_secret_not_a_crash() -> None:
    # Given a well-formed SPKI whose algorithm cryptography does not know (it raises UnsupportedAlgorithm)
    unknown = base64.b64encode(
        base64.b64decode(ERLC_PUBLIC_KEY).replace(bytes.fromhex("06032b6570"), bytes.fromhex("06032b6563"))
    ).decode()
    # When it is the source's only key / Then it is the operator's mistake (503), said plainly
    with pytest.raises(UnusableSecretError) as caught:
        verify_signature(CONFIG, request(), [unknown])
    assert caught.value.status == 503
    assert "not an Ed25519 public key (a key of an unsupported algorithm)" in caught.value.message
