"""Signature verification on the raw body, one function per scheme. Pure: no I/O, clock passed in.

What each scheme checks (docs/security.md says the same for operators):

- `standard-webhooks`: `webhook-id`, `webhook-timestamp` (canonical decimal seconds, within
  ±tolerance) and `webhook-signature` (space-separated `v1,<base64>` tokens, any of which may match;
  unknown versions skipped). MAC = HMAC-SHA256(`whsec_` key, `id.timestamp.body`). Keys must decode to
  at least 24 bytes (the spec's minimum).
- `hmac-sha256`: one configured header holding `prefix + hex|base64(HMAC-SHA256(secret, message))`,
  where message = the raw body, or - when `timestamp_header` is set - `timestamp + "." + body` with the
  timestamp header's exact text (canonical decimal seconds, within ±tolerance). The "." separator is
  the Stripe / Standard Webhooks convention, and it is what an Apps Script sender produces with
  `Utilities.computeHmacSha256Signature(ts + "." + body, secret, Utilities.Charset.UTF_8)`.
- `ed25519`: `X-Signature-Ed25519` (hex) over `timestamp + raw body` (no separator), timestamp within
  ±tolerance; the secret is the sender's public key (base64 SPKI/DER, base64 raw, PEM or 64 hex digits).
- `body-key`: a named JSON field equals the secret. It needs the parsed body, so verification hands
  back a check that runs after parsing and removes the field before the adapter sees the payload.
- `url-token`: the path token of `POST /hooks/{source}/{token}` equals the secret.

Secrets come as a list so a source can hold the old and the new one while rotating. Every MAC and
token comparison is `hmac.compare_digest` (a test checks this file has no `==` on them).

Failures raise `VerificationError` (an `AuthenticationError`: always the same 401 text) whose `kind`
names the metric and whose `reason` goes to the log. A source whose secrets are all unusable raises
`UnusableSecretError` (503): that is the operator's mistake, and the sender should retry, not drop.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from relay.config import (
    BodyKeySignature,
    Ed25519Signature,
    HmacSha256Signature,
    SignatureConfig,
    StandardWebhooksSignature,
    UrlTokenSignature,
)
from relay.errors import AuthenticationError, RelayError

# Longer headers are hostile or broken; API Gateway's own limit on all headers is 10 KB.
MAX_SIGNATURE_HEADER = 4096
# Each ed25519 candidate costs a curve operation, so joined headers get a small cap.
MAX_ED25519_CANDIDATES = 4
# The Standard Webhooks spec: secrets are 24 to 64 random bytes.
MIN_WHSEC_BYTES = 24
SHA256_BYTES = 32
# The only blanks around an HTTP header value (RFC 9110 OWS); anything else is part of the value.
HTTP_BLANKS = " \t"
# Unix seconds up to the year 33658; more digits is not a timestamp.
MAX_TIMESTAMP_DIGITS = 12

RejectionKind = Literal["missing", "malformed", "timestamp", "mismatch"]


class VerificationError(AuthenticationError):
    """A request failed its source's check. The answer is the generic 401; `kind` is for metrics."""

    def __init__(self, kind: RejectionKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


class UnusableSecretError(RelayError):
    """None of a source's secrets can be used (empty, not base64, not a key): 503 so senders retry."""

    status = 503
    public_message = "Source not available, retry later"


@dataclass(frozen=True)
class SignedRequest:
    body: bytes
    headers: Mapping[str, str]  # names lower-cased
    now: datetime
    path_token: str | None = None


PayloadCheck = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Verified:
    """What a verified request tells us.

    `delivery_id`: the sender's id for this delivery, stable across its retries (replay key, logs).
    `signed_digest`: SHA-256 of the signed message of a timestamped scheme without an id; an exact
    replay within the tolerance window has the same digest, a new event (new timestamp) does not.
    `payload_check`: for `body-key`, the check still to run on the parsed body (it also removes the key).
    """

    delivery_id: str | None = None
    signed_digest: str | None = None
    payload_check: PayloadCheck | None = None

    @property
    def complete(self) -> bool:
        """True when the raw bytes alone proved the request authentic."""
        return self.payload_check is None

    def open_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload the adapter may see: checked and stripped of credentials where the scheme says so."""
        return self.payload_check(payload) if self.payload_check else payload


def _encodable(value: str) -> bool:
    """Whether a str can be UTF-8 encoded: a hand-made event can carry lone surrogates, HTTP cannot."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value (names are lower-cased), or None when absent, blank, too long or not text."""
    value = headers.get(name.lower())
    if value is None or not value.strip(HTTP_BLANKS) or len(value) > MAX_SIGNATURE_HEADER:
        return None
    return value.strip(HTTP_BLANKS) if _encodable(value) else None


def _required_header(request: SignedRequest, name: str) -> str:
    value = request.headers.get(name.lower())
    if value is None or not value.strip(HTTP_BLANKS):
        raise VerificationError("missing", f"missing header {name}")
    if len(value) > MAX_SIGNATURE_HEADER:
        raise VerificationError("malformed", f"header {name} longer than {MAX_SIGNATURE_HEADER}")
    if not _encodable(value):
        raise VerificationError("malformed", f"header {name} is not text")
    return value.strip(HTTP_BLANKS)


def _checked_timestamp(raw: str, now: datetime, tolerance: int) -> str:
    """The timestamp header's text, if it is canonical decimal seconds within ±tolerance of now.

    Floats, signs, padding, leading zeros and joined headers (`1,2`) are refused: the text is part of
    the signed message, so only one spelling of a moment is accepted.
    """
    if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_TIMESTAMP_DIGITS and str(int(raw)) == raw):
        raise VerificationError("malformed", "timestamp is not an integer number of seconds")
    skew = now.timestamp() - int(raw)
    if skew > tolerance:
        raise VerificationError("timestamp", f"timestamp {int(skew)}s old, tolerance {tolerance}s")
    if -skew > tolerance:
        raise VerificationError("timestamp", f"timestamp {int(-skew)}s in the future, tolerance {tolerance}s")
    return raw


def _digest(message: bytes) -> str:
    return hashlib.sha256(message).hexdigest()


# ---------------------------------------------------------------- standard-webhooks


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


def standard_webhooks_message(msg_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def sign_standard_webhooks(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = decode_whsec(secret)
    mac = hmac.new(key, standard_webhooks_message(msg_id, str(timestamp), body), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def _standard_webhooks_candidates(header: str) -> list[bytes]:
    """The 32-byte MACs of `v1,<b64>` tokens. Tokens are space-separated; API Gateway joins two
    headers with a comma (`v1,a,v1,b`), so items are read in (version, value) pairs across both."""
    items = [item for part in header.split(" ") for item in part.split(",")]
    candidates: list[bytes] = []
    for version, value in itertools.pairwise(items):
        if version != "v1" or not value:
            continue  # unknown versions (v1a, v2) are skipped, as the spec says
        mac = _canonical_base64(value)
        if mac is not None and len(mac) == SHA256_BYTES:
            candidates.append(mac)
    return candidates


def _canonical_base64(text: str) -> bytes | None:
    """Standard base64 (padding optional) in its one canonical spelling, else None.

    Non-zero spare bits in the last character decode to the same bytes; they are refused so a
    signature has exactly one accepted spelling (up to padding).
    """
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(raw).decode().rstrip("=") != text.rstrip("="):
        return None
    return raw


def _usable[T](secrets: Sequence[str], decode: Callable[[str], T], scheme: str) -> list[T]:
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


def verify_standard_webhooks(
    config: StandardWebhooksSignature, request: SignedRequest, secrets: Sequence[str]
) -> Verified:
    keys = _usable(secrets, decode_whsec, config.scheme)
    msg_id = _required_header(request, "webhook-id")
    timestamp = _checked_timestamp(
        _required_header(request, "webhook-timestamp"), request.now, config.tolerance_seconds
    )
    candidates = _standard_webhooks_candidates(_required_header(request, "webhook-signature"))
    if not candidates:
        raise VerificationError("malformed", "no well-formed v1 signature")
    message = standard_webhooks_message(msg_id, timestamp, request.body)
    for key in keys:
        expected = hmac.new(key, message, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return Verified(delivery_id=msg_id)
    raise VerificationError("mismatch", "no signature matches")


# ---------------------------------------------------------------- hmac-sha256

HEX_MAC = r"[0-9a-fA-F]{64}"
BASE64_MAC = r"[A-Za-z0-9+/]{43}=?"


@functools.cache
def _hmac_pattern(prefix: str, encoding: str) -> re.Pattern[str]:
    # A candidate stands alone between separators, so joined headers (`sha256=a,sha256=b`) yield both.
    value = HEX_MAC if encoding == "hex" else BASE64_MAC
    return re.compile(rf"(?:^|[ \t,]){re.escape(prefix)}({value})(?=$|[ \t,])")


def _decode_mac(text: str, encoding: str) -> bytes | None:
    return bytes.fromhex(text) if encoding == "hex" else _canonical_base64(text)


def hmac_sha256_message(body: bytes, timestamp: str | None = None) -> bytes:
    """The signed bytes: the raw body, or `timestamp.body` when the source sends a timestamp header."""
    return body if timestamp is None else timestamp.encode() + b"." + body


def sign_hmac_sha256(config: HmacSha256Signature, secret: str, body: bytes, timestamp: str | None) -> str:
    """The signature header value a sender with this config would send."""
    mac = hmac.new(secret.encode(), hmac_sha256_message(body, timestamp), hashlib.sha256).digest()
    return config.prefix + (mac.hex() if config.encoding == "hex" else base64.b64encode(mac).decode())


def _hmac_key(secret: str) -> bytes:
    if not secret.strip():
        raise ValueError("empty hmac-sha256 secret")
    return secret.encode()


def verify_hmac_sha256(
    config: HmacSha256Signature, request: SignedRequest, secrets: Sequence[str]
) -> Verified:
    keys = _usable(secrets, _hmac_key, config.scheme)
    header = _required_header(request, config.header)
    decoded = (
        _decode_mac(match.group(1), config.encoding)
        for match in _hmac_pattern(config.prefix, config.encoding).finditer(header)
    )
    candidates = [mac for mac in decoded if mac is not None]
    if not candidates:
        raise VerificationError("malformed", f"header {config.header} holds no well-formed signature")
    timestamp = None
    if config.timestamp_header:
        timestamp = _checked_timestamp(
            _required_header(request, config.timestamp_header), request.now, config.tolerance_seconds
        )
    message = hmac_sha256_message(request.body, timestamp)
    for key in keys:
        expected = hmac.new(key, message, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            delivery_id = (
                header_value(request.headers, config.delivery_id_header)
                if config.delivery_id_header
                else None
            )
            return Verified(
                delivery_id=delivery_id, signed_digest=_digest(message) if timestamp is not None else None
            )
    raise VerificationError("mismatch", "no signature matches")


# ---------------------------------------------------------------- ed25519

HEX_ED25519 = re.compile(r"(?:^|[ \t,])([0-9a-fA-F]{128})(?=$|[ \t,])")


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
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"public key is {type(key).__name__}, not Ed25519")
    return key


def ed25519_message(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode() + body


def verify_ed25519(config: Ed25519Signature, request: SignedRequest, secrets: Sequence[str]) -> Verified:
    keys = _usable(secrets, load_ed25519_public_key, config.scheme)
    header = _required_header(request, config.signature_header)
    raw_timestamp = _required_header(request, config.timestamp_header)
    candidates = [bytes.fromhex(m.group(1)) for m in HEX_ED25519.finditer(header)][:MAX_ED25519_CANDIDATES]
    if not candidates:
        raise VerificationError("malformed", f"header {config.signature_header} is not 64 hex-encoded bytes")
    timestamp = _checked_timestamp(raw_timestamp, request.now, config.tolerance_seconds)
    message = ed25519_message(timestamp, request.body)
    for key in keys:
        for candidate in candidates:
            try:
                key.verify(candidate, message)
            except InvalidSignature:
                continue
            return Verified(signed_digest=_digest(message))
    raise VerificationError("mismatch", "no signature matches")


# ---------------------------------------------------------------- body-key and url-token


def _plain_secret(secret: str) -> bytes:
    if not secret.strip():
        raise ValueError("empty secret")
    return secret.encode()


def _matches_any(presented: str, keys: Sequence[bytes]) -> bool:
    value = presented.encode("utf-8", errors="surrogatepass")
    # Every key is compared (no early exit), so timing does not tell which one matched.
    results = [hmac.compare_digest(value, key) for key in keys]
    return any(results)


def check_body_key(field: str, keys: Sequence[bytes], payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without its key field, if that field equals one of the secrets."""
    presented = payload.get(field)
    if presented is None:
        raise VerificationError("missing", f"body has no {field!r} field")
    if not isinstance(presented, str) or not presented:
        raise VerificationError("malformed", f"body field {field!r} is not a non-empty string")
    if not _matches_any(presented, keys):
        raise VerificationError("mismatch", f"body field {field!r} matches no secret")
    return {name: value for name, value in payload.items() if name != field}


def verify_body_key(config: BodyKeySignature, _: SignedRequest, secrets: Sequence[str]) -> Verified:
    keys = _usable(secrets, _plain_secret, config.scheme)
    return Verified(payload_check=functools.partial(check_body_key, config.field, tuple(keys)))


def verify_url_token(config: UrlTokenSignature, request: SignedRequest, secrets: Sequence[str]) -> Verified:
    keys = _usable(secrets, _plain_secret, config.scheme)
    if not request.path_token:
        raise VerificationError("missing", "no token in the path")
    if len(request.path_token) > MAX_SIGNATURE_HEADER:
        raise VerificationError("malformed", "path token too long")
    if not _matches_any(request.path_token, keys):
        raise VerificationError("mismatch", "path token matches no secret")
    return Verified()


def verify_signature(config: SignatureConfig, request: SignedRequest, secrets: Sequence[str]) -> Verified:
    """Check a request against its source's scheme. Raises VerificationError or UnusableSecretError."""
    if isinstance(config, StandardWebhooksSignature):
        return verify_standard_webhooks(config, request, secrets)
    if isinstance(config, HmacSha256Signature):
        return verify_hmac_sha256(config, request, secrets)
    if isinstance(config, Ed25519Signature):
        return verify_ed25519(config, request, secrets)
    if isinstance(config, BodyKeySignature):
        return verify_body_key(config, request, secrets)
    return verify_url_token(config, request, secrets)
