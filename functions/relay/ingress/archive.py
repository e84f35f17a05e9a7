"""What the ingress keeps of a delivery in the archive (relay.ports.archive), and how: pure but for the
writer it is given, and never in the way of an answer (fail open: a record not kept is logged and
counted, the webhook is answered as if it were).

Kept of every accepted delivery: the queue messages it became. Kept besides, for a source with
`archive_body = true`: the body as received with its secrets removed (the body-key field dropped,
any of the source's secrets that appears in it written out as `***`), and the headers its signature
scheme reads. A refused delivery of such a source (a signature that matches no secret) is kept too,
as it came: the bytes a signature covers, and for schemes whose secret travels with the request (the
body's key, the URL's token) a SHA-256 digest of what was presented in its place, so that once the
key is fixed `relay replay` can check it again without the archive ever holding a secret.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from relay.config.schema import (
    BodyKeySignature,
    Ed25519Signature,
    HmacSha256Signature,
    SourceConfig,
    StandardWebhooksSignature,
    UrlTokenSignature,
)
from relay.errors import ArchiveUnavailableError, VerificationError
from relay.ingress.signatures import SVIX_HEADERS, WEBHOOK_HEADERS
from relay.models import redact
from relay.observability import logger
from relay.ports.archive import ArchivedDelivery, ArchiveWriter
from relay.ports.secrets import SecretsSource


def scheme_headers(source: SourceConfig) -> tuple[str, ...]:
    """The headers a source's signature reads (lower-cased), and the content type."""
    signature = source.signature
    names: tuple[str, ...] = ()
    if isinstance(signature, StandardWebhooksSignature):
        names = WEBHOOK_HEADERS + SVIX_HEADERS
    elif isinstance(signature, HmacSha256Signature):
        optional = (signature.timestamp_header, signature.delivery_id_header)
        names = (signature.header, *(name for name in optional if name))
    elif isinstance(signature, Ed25519Signature):
        names = (signature.signature_header, signature.timestamp_header)
    return tuple(name.lower() for name in (*names, "content-type"))


def secret_digest(secret: str) -> str:
    """What the archive keeps of a secret presented with a request: never the secret itself."""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8", errors="surrogatepass")).hexdigest()


def _without_body_key(body: bytes, field: str) -> tuple[bytes, str | None] | None:
    """The body without its key field, and a digest of the key it held; None for a body that is not a
    JSON object (it is then not kept: it may hold the key where this cannot find it)."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    presented = payload.pop(field, None)
    digest = secret_digest(presented) if isinstance(presented, str) and presented else None
    return json.dumps(payload, ensure_ascii=False).encode("utf-8"), digest


def _kept_headers(headers: Mapping[str, str], source: SourceConfig) -> dict[str, str]:
    return {name: headers[name] for name in scheme_headers(source) if name in headers}


def accepted(
    *,
    name: str,
    source: SourceConfig,
    received_at: datetime,
    body: bytes,
    headers: Mapping[str, str],
    webhook_id: str | None,
    request_id: str | None,
    messages: Sequence[str],
    label: str | None,
    secrets: Sequence[str],
) -> ArchivedDelivery:
    """The record of an accepted delivery: its messages, and its body when the source keeps bodies."""
    kept: bytes | None = None
    if source.archive_body:
        if isinstance(source.signature, BodyKeySignature):
            stripped = _without_body_key(body, source.signature.field)
            kept = stripped[0] if stripped is not None else None
        else:
            kept = body
        if kept is not None and any(len(s) >= 4 for s in secrets):
            text = kept.decode("utf-8", errors="replace")
            kept = redact(text, *secrets).encode("utf-8")
    return ArchivedDelivery(
        source=name,
        received_at=received_at,
        outcome="accepted",
        webhook_id=webhook_id,
        request_id=request_id,
        messages=tuple(messages),
        label=label,
        body=kept,
        headers=_kept_headers(headers, source) if kept is not None else {},
    )


def refused(
    *,
    name: str,
    source: SourceConfig,
    received_at: datetime,
    body: bytes,
    headers: Mapping[str, str],
    token: str | None,
    request_id: str | None,
    error: VerificationError,
) -> ArchivedDelivery | None:
    """The record of a delivery refused for a signature that matched no secret, for a source that keeps
    bodies; None otherwise (a request with no signature at all is a stranger's, not a sender's)."""
    if not source.archive_body or error.kind != "mismatch":
        return None
    digest: str | None = None
    kept: bytes | None = body
    if isinstance(source.signature, BodyKeySignature):
        stripped = _without_body_key(body, source.signature.field)
        if stripped is None:
            return None
        kept, digest = stripped
    elif isinstance(source.signature, UrlTokenSignature):
        digest = secret_digest(token) if token else None
    return ArchivedDelivery(
        source=name,
        received_at=received_at,
        outcome="refused",
        request_id=request_id,
        reason=f"{error.kind}: {error.reason}",
        body=kept,
        headers=_kept_headers(headers, source),
        secret_digest=digest,
    )


def keep(writer: ArchiveWriter | None, delivery: ArchivedDelivery | None, days: int) -> str | None:
    """Keep the record; the reason it was not kept, or None. Never raises."""
    if writer is None or delivery is None or days <= 0:
        return None
    try:
        writer.keep(delivery, days)
    except ArchiveUnavailableError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - fail open: the webhook is answered whatever the archive does
        return f"{type(exc).__name__}"
    return None


def keep_accepted(
    writer: ArchiveWriter | None,
    days: int,
    secrets: SecretsSource,
    *,
    name: str,
    source: SourceConfig,
    received_at: datetime,
    body: bytes,
    headers: Mapping[str, str],
    webhook_id: str | None,
    request_id: str | None,
    messages: Sequence[str],
    label: str | None,
) -> str | None:
    """Keep an accepted delivery's record (`accepted`); why it was not kept, or None. Never raises."""
    if writer is None or days <= 0:
        return None
    try:
        # Cached since the signature check: redacting with them costs no call.
        values = secrets.get(source.signature.secret) if source.archive_body else []
    except Exception as exc:  # noqa: BLE001 - a body that cannot be redacted is not kept
        return f"secret unreadable, body not redacted: {type(exc).__name__}"
    record = accepted(
        name=name,
        source=source,
        received_at=received_at,
        body=body,
        headers=headers,
        webhook_id=webhook_id,
        request_id=request_id,
        messages=messages,
        label=label,
        secrets=values,
    )
    return keep(writer, record, days)


def keep_or_log(writer: ArchiveWriter | None, delivery: ArchivedDelivery | None, days: int) -> None:
    """keep(), logging a record not kept (a refused delivery's answer carries nothing of it)."""
    error = keep(writer, delivery, days)
    if error is not None:
        # Counted from the log (template.yaml: ReplayProtectionLostFilter, with the replay store's line).
        logger.warning("archive not written", extra={"error": error})
