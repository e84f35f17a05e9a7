"""Signature verification on the raw body, one function per scheme. Pure: no I/O, clock passed in.

What each scheme checks (docs/security.md says the same for operators):

- `standard-webhooks`: `webhook-id`, `webhook-timestamp` (canonical decimal seconds, within
  ±tolerance) and `webhook-signature` (space-separated `v1,<base64>` tokens, any of which may match;
  unknown versions skipped), or the same three as Svix names them (`svix-*`), one family per
  request. MAC = HMAC-SHA256(`whsec_` key, `id.timestamp.body`). Keys must decode to at least 24
  bytes (the spec's minimum).
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
names the metric and whose `reason` goes to the log. Secrets become keys in relay.ingress.keys.
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
from typing import Any

from cryptography.exceptions import InvalidSignature

from relay.config.schema import (
    BodyKeySignature,
    Ed25519Signature,
    HmacSha256Signature,
    SignatureConfig,
    StandardWebhooksSignature,
    UrlTokenSignature,
)
from relay.errors import VerificationError
from relay.ingress.keys import (
    decode_whsec,
    hmac_key,
    load_ed25519_public_key,
    plain_secret,
    usable_keys,
)
from relay.models import encodable

# Longer headers are hostile or broken; API Gateway's own limit on all headers is 10 KB.
MAX_SIGNATURE_HEADER = 4096
# Each ed25519 candidate costs a curve operation, so joined headers get a small cap.
MAX_ED25519_CANDIDATES = 4
SHA256_BYTES = 32
# The only blanks around an HTTP header value (RFC 9110 OWS); anything else is part of the value.
HTTP_BLANKS = " \t"
# Unix seconds up to the year 33658; more digits is not a timestamp.
MAX_TIMESTAMP_DIGITS = 12


@dataclass(frozen=True)
class SignedRequest:
    body: bytes
    headers: Mapping[str, str]  # names lower-cased
    now: datetime
    path_token: str | None = None


PayloadCheck = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Verified:
    """What a verified request tells us (relay.ingress.replay decides what identifies it).

    `delivery_id`: the sender's id for this delivery, covered by the signature (Standard Webhooks'
    `webhook-id`), stable across its retries.
    `unsigned_id`: an id the sender gives beside the signed bytes (hmac-sha256's `delivery_id_header`):
    it names the delivery in logs, but anyone replaying the request can change it.
    `signed_digest`: SHA-256 of the signed message of a timestamped scheme; an exact replay within the
    tolerance window has the same digest, a new event (new timestamp) does not.
    `body_digest`: SHA-256 of a body signed without a timestamp (hmac-sha256 without `timestamp_header`).
    `payload_check`: for `body-key`, the check still to run on the parsed body (it also removes the key).
    """

    delivery_id: str | None = None
    unsigned_id: str | None = None
    signed_digest: str | None = None
    body_digest: str | None = None
    payload_check: PayloadCheck | None = None

    @property
    def complete(self) -> bool:
        """True when the raw bytes alone proved the request authentic."""
        return self.payload_check is None

    def open_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload the adapter may see: checked and stripped of credentials where the scheme says so."""
        return self.payload_check(payload) if self.payload_check else payload


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value (names are lower-cased), or None when absent, blank, too long or not text."""
    value = headers.get(name.lower())
    if value is None or not value.strip(HTTP_BLANKS) or len(value) > MAX_SIGNATURE_HEADER:
        return None
    return value.strip(HTTP_BLANKS) if encodable(value) else None


def _required_header(request: SignedRequest, name: str) -> str:
    value = request.headers.get(name.lower())
    if value is None or not value.strip(HTTP_BLANKS):
        raise VerificationError("missing", f"missing header {name}")
    if len(value) > MAX_SIGNATURE_HEADER:
        raise VerificationError("malformed", f"header {name} longer than {MAX_SIGNATURE_HEADER}")
    if not encodable(value):
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


# (id, timestamp, signature): the spec's names, and Svix's (its default unless white-labelled).
WEBHOOK_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
SVIX_HEADERS = ("svix-id", "svix-timestamp", "svix-signature")


def standard_webhooks_headers(headers: Mapping[str, str]) -> tuple[str, str, str]:
    """The header family a request uses: `webhook-*`, or `svix-*` when it has no `webhook-*` header.
    One family per request, never mixed, so each signed part comes from the same sender's set."""
    if any(name in headers for name in WEBHOOK_HEADERS) or not any(name in headers for name in SVIX_HEADERS):
        return WEBHOOK_HEADERS
    return SVIX_HEADERS


def verify_standard_webhooks(
    config: StandardWebhooksSignature, request: SignedRequest, secrets: Sequence[str]
) -> Verified:
    keys = usable_keys(secrets, decode_whsec, config.scheme)
    id_header, timestamp_header, signature_header = standard_webhooks_headers(request.headers)
    msg_id = _required_header(request, id_header)
    timestamp = _checked_timestamp(
        _required_header(request, timestamp_header), request.now, config.tolerance_seconds
    )
    candidates = _standard_webhooks_candidates(_required_header(request, signature_header))
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


def verify_hmac_sha256(
    config: HmacSha256Signature, request: SignedRequest, secrets: Sequence[str]
) -> Verified:
    keys = usable_keys(secrets, hmac_key, config.scheme)
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
            unsigned_id = (
                header_value(request.headers, config.delivery_id_header)
                if config.delivery_id_header
                else None
            )
            if timestamp is not None:
                return Verified(unsigned_id=unsigned_id, signed_digest=_digest(message))
            return Verified(unsigned_id=unsigned_id, body_digest=_digest(message))
    raise VerificationError("mismatch", "no signature matches")


# ---------------------------------------------------------------- ed25519

HEX_ED25519 = re.compile(r"(?:^|[ \t,])([0-9a-fA-F]{128})(?=$|[ \t,])")


def ed25519_message(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode() + body


def verify_ed25519(config: Ed25519Signature, request: SignedRequest, secrets: Sequence[str]) -> Verified:
    keys = usable_keys(secrets, load_ed25519_public_key, config.scheme)
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
    keys = usable_keys(secrets, plain_secret, config.scheme)
    return Verified(payload_check=functools.partial(check_body_key, config.field, tuple(keys)))


def verify_url_token(config: UrlTokenSignature, request: SignedRequest, secrets: Sequence[str]) -> Verified:
    keys = usable_keys(secrets, plain_secret, config.scheme)
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
