"""Replay protection: a delivery that was queued once is answered "replayed" for a while after.

The ingress asks `seen` before the adapter runs, and calls `remember` only after every message of
the delivery is in SQS. Recording after the enqueue means a failed enqueue (503) leaves no record, so
the sender's retry is accepted; no crash between "recorded" and "queued" can ever swallow a genuine
delivery. The price is a narrow race: two copies arriving together may both be queued. That is
harmless, because the consumer's merge is idempotent (the same change twice is the same change).
`remember` is a conditional write, so it reports when it lost that race.

Keys are `<source>#<delivery id>` (a long id is hashed to keep DynamoDB's key small); a source can
never shadow another's deliveries. Records expire `replay_ttl_seconds` after they were written; an
expired record reads as absent before DynamoDB's TTL sweep (which may lag by days) removes it.

What identifies a delivery comes only from what its sender signed (`replay_id`): an id the signature
covers, else an id in a signed body, else the digest of a signed timestamp and body. An id outside
the signature (a `delivery_id_header`) is never the key on its own: a captured request resent with a
fresh one would be queued again. Without a signed timestamp it is combined with the body's digest,
which recognises the sender's own redeliveries and nothing more.

The port is relay.ports.stores.ReplayGuard: relay.aws.dynamodb.DynamoReplayGuard in Lambda,
relay.memory.InMemoryReplayGuard in tests and tools.
"""

from __future__ import annotations

import hashlib

from relay.ingress.signatures import Verified

MAX_READABLE_KEY = 200


def replay_key(source: str, delivery_id: str) -> str:
    if len(delivery_id) <= MAX_READABLE_KEY:
        return f"{source}#{delivery_id}"
    return f"{source}#sha256:{hashlib.sha256(delivery_id.encode('utf-8', 'surrogatepass')).hexdigest()}"


def replay_id(verified: Verified, body_id: str | None) -> str | None:
    """What identifies this delivery to the replay guard, or None (no replay protection).

    In order: an id the signature covers; the body's `delivery_id_path` id (signed by every scheme
    that signs the body; for `body-key` and `url-token` nothing is signed, so it is as good as the
    rest of the body); the digest of the signed timestamp and body; for a body signed without a
    timestamp, the sender's unsigned id joined to the body's digest (the same delivery sent again by
    its sender). Never an unsigned id alone.
    """
    if verified.delivery_id:
        return verified.delivery_id
    if body_id:
        return body_id
    if verified.signed_digest:
        return f"sha256:{verified.signed_digest}"
    if verified.unsigned_id and verified.body_digest:
        return f"{verified.unsigned_id}#sha256:{verified.body_digest}"
    return None
