"""Signature verification on the raw body, one function per scheme. Pure: no I/O, clock passed in.

Every failure raises `AuthenticationError` with a reason for the logs; the HTTP answer is always the same.
Secrets come as a list so a source can hold the old and the new one while rotating.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from relay.config import SignatureConfig, StandardWebhooksSignature
from relay.errors import AuthenticationError

MAX_SIGNATURE_HEADER = 4096


@dataclass(frozen=True)
class SignedRequest:
    body: bytes
    headers: Mapping[str, str]  # names lower-cased
    now: datetime
    path_token: str | None = None


@dataclass(frozen=True)
class Verified:
    """What a verified request tells us: the sender's delivery id, when it has one (for replay checks)."""

    delivery_id: str | None = None


def _header(request: SignedRequest, name: str) -> str:
    value = request.headers.get(name.lower())
    if value is None or not value.strip():
        raise AuthenticationError(f"missing header {name}")
    if len(value) > MAX_SIGNATURE_HEADER:
        raise AuthenticationError(f"header {name} too long")
    return value.strip()


def _integer_timestamp(raw: str, now: datetime, tolerance: int) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise AuthenticationError("timestamp is not an integer")
    timestamp = int(raw)
    if abs(now.timestamp() - timestamp) > tolerance:
        raise AuthenticationError("timestamp outside tolerance")
    return timestamp


def decode_whsec(secret: str) -> bytes:
    """`whsec_<base64>` (prefix optional, padding optional) to key bytes."""
    value = secret.strip().removeprefix("whsec_")
    if not value:
        raise ValueError("empty standard-webhooks secret")
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("standard-webhooks secret is not base64") from exc


def sign_standard_webhooks(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = decode_whsec(secret)
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _signature_tokens(header: str) -> list[bytes]:
    """`v1,<b64>` tokens separated by spaces; API Gateway may also have joined two headers with commas."""
    tokens: list[bytes] = []
    for part in header.replace(",v1,", " v1,").split():
        version, _, value = part.partition(",")
        if version != "v1" or not value:
            continue  # unknown versions (v1a, v2) are skipped, as the spec says
        try:
            tokens.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    return tokens


def verify_standard_webhooks(
    config: StandardWebhooksSignature, request: SignedRequest, secrets: Sequence[str]
) -> Verified:
    msg_id = _header(request, "webhook-id")
    timestamp = _integer_timestamp(
        _header(request, "webhook-timestamp"), request.now, config.tolerance_seconds
    )
    candidates = _signature_tokens(_header(request, "webhook-signature"))
    if not candidates:
        raise AuthenticationError("no v1 signature")
    signed = f"{msg_id}.{timestamp}.".encode() + request.body
    for secret in secrets:
        try:
            key = decode_whsec(secret)
        except ValueError:
            continue
        expected = hmac.new(key, signed, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return Verified(delivery_id=msg_id)
    raise AuthenticationError("signature mismatch")


def verify_signature(config: SignatureConfig, request: SignedRequest, secrets: Sequence[str]) -> Verified:
    if not secrets:
        raise AuthenticationError("no secret configured")
    if isinstance(config, StandardWebhooksSignature):
        return verify_standard_webhooks(config, request, secrets)
    raise AuthenticationError(f"scheme {config.scheme} not supported yet")
