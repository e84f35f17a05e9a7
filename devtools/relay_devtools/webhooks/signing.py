"""The sender's side of every scheme: what a source would send. Used by `relay sign`, the demo and tests."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.config.schema import (
    BodyKeySignature,
    Ed25519Signature,
    HmacSha256Signature,
    SignatureConfig,
    StandardWebhooksSignature,
    UrlTokenSignature,
)
from relay.ingress.signatures import ed25519_message, sign_hmac_sha256, sign_standard_webhooks


@dataclass(frozen=True)
class SignedDelivery:
    """A ready request: the path suffix (token), headers and the exact body bytes."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    path_token: str | None = None


def new_secret(scheme: str) -> tuple[str, str | None]:
    """A fresh secret for a scheme: (value stored in Secrets Manager, private signing key if any)."""
    if scheme == "standard-webhooks":
        return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(), None
    if scheme == "ed25519":
        private = Ed25519PrivateKey.generate()
        public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        raw = private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return public.hex(), raw.hex()
    return secrets.token_urlsafe(32), None


def sign(
    config: SignatureConfig,
    body: bytes,
    secret: str,
    *,
    now: datetime | None = None,
    private_key: str | None = None,
    delivery_id: str | None = None,
) -> SignedDelivery:
    now = now or datetime.now(UTC)
    timestamp = str(int(now.timestamp()))
    headers = {"content-type": "application/json"}
    if isinstance(config, StandardWebhooksSignature):
        msg_id = delivery_id or f"msg_{uuid.uuid4().hex}"
        headers |= {
            "webhook-id": msg_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": sign_standard_webhooks(secret, msg_id, int(timestamp), body),
        }
        return SignedDelivery(body, headers)
    if isinstance(config, HmacSha256Signature):
        # With a timestamp header the sender signs `timestamp.body` (relay.signatures, docs/security.md).
        signed_timestamp = timestamp if config.timestamp_header else None
        headers[config.header.lower()] = sign_hmac_sha256(config, secret, body, signed_timestamp)
        if config.timestamp_header:
            headers[config.timestamp_header.lower()] = timestamp
        if config.delivery_id_header:
            headers[config.delivery_id_header.lower()] = delivery_id or str(uuid.uuid4())
        return SignedDelivery(body, headers)
    if isinstance(config, Ed25519Signature):
        if private_key is None:
            raise ValueError("an ed25519 source needs the sender's private key to sign")
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(private_key))
        signature = key.sign(ed25519_message(timestamp, body)).hex()
        headers |= {config.signature_header.lower(): signature, config.timestamp_header.lower(): timestamp}
        return SignedDelivery(body, headers)
    if isinstance(config, BodyKeySignature):
        payload = json.loads(body)
        payload[config.field] = secret
        return SignedDelivery(json.dumps(payload).encode(), headers)
    if isinstance(config, UrlTokenSignature):
        return SignedDelivery(body, headers, path_token=secret)
    raise ValueError(f"unknown scheme {config.scheme}")
