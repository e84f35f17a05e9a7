"""Source-state writes held back until a request's messages are queued.

An adapter may change what its source remembers (Sonoran's identId cache: a login adds, a logout
forgets). Written at once, a change outlives a request that then fails: a logout that forgot the unit
before a failed enqueue (503) left the sender's retry nothing to find, and the 10-7 was never queued;
a login refused halfway (422) left half its units cached. So the adapter gets a staged view of the
store: reads see the request's own writes, puts and deletes wait, and the pipeline commits them only
after every message is in SQS. A refused or unqueued request writes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from relay.models import SOURCE_STATE_TTL_SECONDS
from relay.ports.stores import SourceStateStore


class StagedSourceState:
    """relay.ports.stores.SourceStateStore over `store`, with its writes held until `commit`."""

    def __init__(self, store: SourceStateStore) -> None:
        self.store = store
        # (pk, sk) -> (the value as JSON, None for a delete; its TTL): JSON, so later changes to the
        # adapter's objects cannot reach what was staged, as with a real store.
        self._staged: dict[tuple[str, str], tuple[str | None, int]] = {}

    def get(self, pk: str, sk: str) -> Any | None:
        staged = self._staged.get((pk, sk))
        if staged is None:
            return self.store.get(pk, sk)
        return None if staged[0] is None else json.loads(staged[0])

    def put(self, pk: str, sk: str, value: Any, ttl_seconds: int = SOURCE_STATE_TTL_SECONDS) -> None:
        self._staged[(pk, sk)] = (json.dumps(value), ttl_seconds)

    def delete(self, pk: str, sk: str) -> None:
        self._staged[(pk, sk)] = (None, 0)

    @property
    def staged(self) -> int:
        """How many items the commit will write or delete."""
        return len(self._staged)

    def commit(self) -> None:
        """Write what was staged (the last write of each item). A store failure raises the store's
        error (SourceStateUnavailableError: 503); whatever was written stays, and the sender's retry
        writes the same items again."""
        while self._staged:
            (pk, sk), (text, ttl) = next(iter(self._staged.items()))
            if text is None:
                self.store.delete(pk, sk)
            else:
                self.store.put(pk, sk, json.loads(text), ttl)
            del self._staged[(pk, sk)]
