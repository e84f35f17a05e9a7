"""Hypothesis properties of the pure verify + parse path (1,000 examples each in `make test`).

- what a sender signs verifies; changing the body, the id or the timestamp in any way fails;
- a signature header other than the one signed (up to hex letter case) fails;
- arbitrary bytes and headers end in VerificationError or a parsed object, never anything else.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.config.schema import (
    BodyKeySignature,
    Ed25519Signature,
    HmacSha256Signature,
    SignatureConfig,
    StandardWebhooksSignature,
    UrlTokenSignature,
)
from relay.errors import InvalidPayloadError, VerificationError
from relay.ingress.body import parse_json_object
from relay.ingress.signatures import SignedRequest, Verified, verify_signature
from relay_devtools.webhooks.signing import sign
from tests.support.constants import CAD_SECRET, NOW

MANY = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SENDER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
SENDER_HEX = bytes(range(1, 33)).hex()
PUBLIC_HEX = SENDER.public_key().public_bytes_raw().hex()
SCHEMES: dict[str, tuple[SignatureConfig, str]] = {
    "standard-webhooks": (StandardWebhooksSignature(scheme="standard-webhooks", secret="s"), CAD_SECRET),
    "github": (
        HmacSha256Signature(
            scheme="hmac-sha256",
            secret="s",
            header="X-Hub-Signature-256",
            prefix="sha256=",
            delivery_id_header="X-GitHub-Delivery",
        ),
        "It's a Secret to Everybody",
    ),
    "tally": (
        HmacSha256Signature(scheme="hmac-sha256", secret="s", header="Tally-Signature", encoding="base64"),
        "tally-secret",
    ),
    "apps-script": (
        HmacSha256Signature(
            scheme="hmac-sha256",
            secret="s",
            header="X-Relay-Signature",
            encoding="base64",
            timestamp_header="X-Relay-Timestamp",
        ),
        "apps-script-secret",
    ),
    "ed25519": (Ed25519Signature(scheme="ed25519", secret="s"), PUBLIC_HEX),
}
MAC_SCHEMES = list(SCHEMES)
# The headers each scheme signs besides the body (the signature header itself is tested separately).
SIGNED_HEADERS = {
    "standard-webhooks": ["webhook-id", "webhook-timestamp"],
    "github": [],
    "tally": [],
    "apps-script": ["x-relay-timestamp"],
    "ed25519": ["x-signature-timestamp"],
}
SIGNATURE_HEADER = {
    "standard-webhooks": "webhook-signature",
    "github": "x-hub-signature-256",
    "tally": "tally-signature",
    "apps-script": "x-relay-signature",
    "ed25519": "x-signature-ed25519",
}
HEADER_NAMES = sorted(
    {name for names in SIGNED_HEADERS.values() for name in names} | set(SIGNATURE_HEADER.values())
)


def signed(scheme: str, body: bytes, delivery_id: str, offset: int) -> SignedRequest:
    config, secret = SCHEMES[scheme]
    delivery = sign(
        config,
        body,
        secret,
        now=NOW + timedelta(seconds=offset),
        private_key=SENDER_HEX,
        delivery_id=delivery_id,
    )
    return SignedRequest(delivery.body, delivery.headers, NOW)


def verify(scheme: str, request: SignedRequest) -> Verified:
    config, secret = SCHEMES[scheme]
    return verify_signature(config, request, [secret])


ids = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=","), min_size=1, max_size=40
)
offsets = st.integers(min_value=-300, max_value=300)


@MANY
@given(scheme=st.sampled_from(MAC_SCHEMES), body=st.binary(max_size=512), delivery_id=ids, offset=offsets)
def test_property_what_a_sender_signs_verifies(
    scheme: str, body: bytes, delivery_id: str, offset: int
) -> None:
    assert isinstance(verify(scheme, signed(scheme, body, delivery_id, offset)), Verified)


@MANY
@given(
    scheme=st.sampled_from(MAC_SCHEMES),
    body=st.binary(max_size=256),
    other=st.binary(max_size=256),
    delivery_id=ids,
    offset=offsets,
)
def test_property_any_change_to_the_body_fails(
    scheme: str, body: bytes, other: bytes, delivery_id: str, offset: int
) -> None:
    # Given a genuine request / When its body is replaced by any other bytes / Then it fails
    request = signed(scheme, body, delivery_id, offset)
    if other == request.body:
        other = request.body + b"\x00"
    with pytest.raises(VerificationError):
        verify(scheme, SignedRequest(other, request.headers, request.now))


@MANY
@given(
    scheme=st.sampled_from([s for s in MAC_SCHEMES if SIGNED_HEADERS[s]]),
    data=st.data(),
    body=st.binary(max_size=128),
    delivery_id=ids,
    offset=offsets,
)
def test_property_any_change_to_a_signed_header_fails(
    scheme: str, data: st.DataObject, body: bytes, delivery_id: str, offset: int
) -> None:
    request = signed(scheme, body, delivery_id, offset)
    name = data.draw(st.sampled_from(SIGNED_HEADERS[scheme]))
    # Any other value; surrounding blanks are not part of an HTTP header value, so they are no change
    value = data.draw(st.text(max_size=40).filter(lambda v: v.strip() != request.headers[name]))
    with pytest.raises(VerificationError):
        verify(scheme, SignedRequest(request.body, {**request.headers, name: value}, request.now))


@MANY
@given(
    scheme=st.sampled_from(MAC_SCHEMES),
    data=st.data(),
    body=st.binary(max_size=128),
    delivery_id=ids,
    offset=offsets,
)
def test_property_any_edit_of_the_signature_fails(
    scheme: str, data: st.DataObject, body: bytes, delivery_id: str, offset: int
) -> None:
    # Given a genuine signature header / When one character is replaced, inserted or deleted
    request = signed(scheme, body, delivery_id, offset)
    name = SIGNATURE_HEADER[scheme]
    original = request.headers[name]
    position = data.draw(st.integers(min_value=0, max_value=len(original) - 1))
    char = data.draw(st.characters(codec="ascii"))
    edit = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    head, tail = original[:position], original[position + (edit != "insert") :]
    changed = head + ("" if edit == "delete" else char) + tail
    if _same_signature(scheme, changed, original) or _still_carries_the_signature(scheme, changed, original):
        return
    # Then it fails
    with pytest.raises(VerificationError):
        verify(scheme, SignedRequest(request.body, {**request.headers, name: changed}, request.now))


def _same_signature(scheme: str, changed: str, original: str) -> bool:
    """Spellings of the same signature: spaces, tabs or commas at the edges (not part of it), base64
    padding (optional), and the letter case of hex digits."""

    def spelling(value: str) -> str:
        value = value.strip(" \t,")
        hex_encoded = scheme in {"github", "ed25519"}
        return value.lower() if hex_encoded else value.rstrip("=")

    return spelling(changed) == spelling(original)


def _still_carries_the_signature(scheme: str, changed: str, original: str) -> bool:
    """An edit that splits the header into tokens, one of which is still the untouched signature."""
    tokens = re.split(r"[ \t,]+", changed)
    if scheme == "standard-webhooks":
        mac = original.removeprefix("v1,").rstrip("=")
        return "v1" in tokens and any(t.rstrip("=") == mac for t in tokens)
    return any(_same_signature(scheme, t, original) for t in tokens)


def _raises_only_verification_error(
    config: SignatureConfig, request: SignedRequest, secrets: list[str]
) -> None:
    try:
        verified = verify_signature(config, request, secrets)
    except VerificationError:
        return
    # Only the schemes that authenticate later may pass the raw-bytes step on arbitrary input
    assert not verified.complete or isinstance(config, UrlTokenSignature)


header_values = st.one_of(
    st.text(max_size=200),
    # Lone surrogates: no HTTP request carries them, a hand-made Lambda event can
    st.text(st.characters(categories=["Cs", "Ll", "Nd", "Po"]), max_size=60),
    st.sampled_from(["v1,", "v1", ",", "sha256=", "v1,g0hM9", "1614265330", "", " "]),
    st.binary(min_size=32, max_size=32).map(lambda b: "v1," + base64.b64encode(b).decode()),
    st.binary(min_size=32, max_size=64).map(binascii.hexlify).map(bytes.decode),
)
headers = st.dictionaries(
    st.one_of(st.sampled_from(HEADER_NAMES), st.text(max_size=20)).map(str.lower), header_values, max_size=6
)


@MANY
@given(
    scheme=st.sampled_from([*MAC_SCHEMES, "body-key", "url-token"]),
    body=st.binary(max_size=512),
    headers=headers,
    token=st.none() | st.text(max_size=80),
)
def test_property_arbitrary_bytes_and_headers_only_ever_fail_verification(
    scheme: str, body: bytes, headers: dict[str, str], token: str | None
) -> None:
    if scheme == "body-key":
        config: SignatureConfig = BodyKeySignature(scheme="body-key", secret="s")
        secrets = ["body-key-secret"]
    elif scheme == "url-token":
        config, secrets = UrlTokenSignature(scheme="url-token", secret="s"), ["url-token-secret"]
    else:
        config, secret = SCHEMES[scheme]
        secrets = [secret]
    _raises_only_verification_error(config, SignedRequest(body, headers, NOW, token), secrets)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@MANY
@given(
    body=st.one_of(
        st.binary(max_size=512),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.integers(1, 60).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
        st.sampled_from([b"NaN", b'{"a": NaN}', b'{"a": Infinity}', b'{"a":"\\ud800"}', b"\xef\xbb\xbf{}"]),
    )
)
def test_property_parsing_arbitrary_bytes_gives_an_object_or_a_422(body: bytes) -> None:
    try:
        payload: Any = parse_json_object(body)
    except InvalidPayloadError as exc:
        assert exc.status == 422 and exc.message.startswith("body")
        return
    assert isinstance(payload, dict)
    json.dumps(payload).encode("utf-8")  # whatever parsed can be re-encoded (no lone surrogates)
