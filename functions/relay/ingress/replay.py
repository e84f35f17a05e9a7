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

The port is relay.ports.ReplayGuard: relay.aws.dynamodb.DynamoReplayGuard in Lambda,
relay.memory.InMemoryReplayGuard in tests and tools.
"""

from __future__ import annotations

import hashlib

MAX_READABLE_KEY = 200


def replay_key(source: str, delivery_id: str) -> str:
    if len(delivery_id) <= MAX_READABLE_KEY:
        return f"{source}#{delivery_id}"
    return f"{source}#sha256:{hashlib.sha256(delivery_id.encode('utf-8', 'surrogatepass')).hexdigest()}"
