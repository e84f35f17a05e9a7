"""A source's secrets as keys: `whsec_` decoding, Ed25519 public keys in every accepted encoding,
plain secrets. A source whose secrets are all unusable raises `UnusableSecretError` (503): that is
the operator's mistake, and the sender should retry, not drop.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable, Sequence

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from relay.errors import UnusableSecretError

# The Standard Webhooks spec: secrets are 24 to 64 random bytes.
MIN_WHSEC_BYTES = 24


def usable_keys[T](secrets: Sequence[str], decode: Callable[[str], T], scheme: str) -> list[T]:
    """Every secret that decodes to a key; UnusableSecretError when none does."""
    keys: list[T] = []
    problems: list[str] = []
    for secret in secrets:
        try:
            keys.append(decode(secret))
        except ValueError as exc:
            problems.append(str(exc))
    if not keys:
        raise UnusableSecretError(f"{scheme}: no usable secret ({'; '.join(problems) or 'none configured'})")
    return keys


def decode_whsec(secret: str) -> bytes:
    """`whsec_<base64>` (prefix optional, padding optional) to key bytes; at least 24 of them."""
    value = secret.strip().removeprefix("whsec_")
    if not value:
        raise ValueError("empty standard-webhooks secret")
    try:
        key = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except binascii.Error:
        raise ValueError("standard-webhooks secret is not base64") from None
    if len(key) < MIN_WHSEC_BYTES:
        raise ValueError(f"standard-webhooks secret shorter than {MIN_WHSEC_BYTES} bytes")
    return key


def hmac_key(secret: str) -> bytes:
    """The secret's UTF-8 bytes, as GitHub, Typeform and Tally use it."""
    if not secret.strip():
        raise ValueError("empty hmac-sha256 secret")
    return secret.encode()


def plain_secret(secret: str) -> bytes:
    """A body key or URL token, compared as bytes."""
    if not secret.strip():
        raise ValueError("empty secret")
    return secret.encode()


@functools.lru_cache(maxsize=64)
def load_ed25519_public_key(text: str) -> Ed25519PublicKey:
    """A public key from 64 hex digits (Discord), base64 SPKI/DER (ER:LC), base64 raw bytes or PEM."""
    value = text.strip()
    try:
        if re.fullmatch(r"[0-9a-fA-F]{64}", value):
            return Ed25519PublicKey.from_public_bytes(bytes.fromhex(value))
        if value.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(value.encode())
        else:
            raw = base64.b64decode(value, validate=True)
            if len(raw) == 32:
                return Ed25519PublicKey.from_public_bytes(raw)
            key = serialization.load_der_public_key(raw)
    except (ValueError, binascii.Error, TypeError) as exc:
        raise ValueError(f"ed25519 public key not readable ({type(exc).__name__})") from None
    except UnsupportedAlgorithm:
        # A well-formed key of an algorithm `cryptography` does not know: still the operator's mistake.
        raise ValueError("not an Ed25519 public key (a key of an unsupported algorithm)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"public key is {type(key).__name__}, not Ed25519")
    return key
