"""The staged view of the source-state store an adapter gets: its reads see its own writes, and nothing
reaches the store until the pipeline commits, once the request's messages are queued (issue #10, item 6)."""

from __future__ import annotations

from typing import Any

import pytest

from relay.errors import SourceStateUnavailableError
from relay.ingress.staged import StagedSourceState
from relay.memory import InMemorySourceStateStore
from tests.support.clocks import FixedClock


@pytest.fixture
def store() -> InMemorySourceStateStore:
    store = InMemorySourceStateStore(clock=FixedClock())
    store.put("cache#s", "ident#1", {"id": "A-1"})
    return store


def test_staged_writes_are_read_back_but_not_written_before_the_commit(
    store: InMemorySourceStateStore,
) -> None:
    # Given a staged view where one item is put and another deleted
    staged = StagedSourceState(store)
    staged.put("cache#s", "ident#2", {"id": "B-2"}, ttl_seconds=60)
    staged.delete("cache#s", "ident#1")
    # Then the view reads its own writes, and the store is untouched
    assert (staged.get("cache#s", "ident#2"), staged.get("cache#s", "ident#1")) == ({"id": "B-2"}, None)
    assert (store.get("cache#s", "ident#2"), store.get("cache#s", "ident#1")) == (None, {"id": "A-1"})
    assert staged.staged == 2


def test_the_commit_writes_the_last_staged_value_of_each_item() -> None:
    clock = FixedClock()
    store = InMemorySourceStateStore(clock=clock)
    store.put("cache#s", "ident#1", {"id": "A-1"})
    staged = StagedSourceState(store)
    staged.put("cache#s", "ident#2", {"id": "B-2"})
    staged.delete("cache#s", "ident#2")
    staged.put("cache#s", "ident#2", {"id": "B-3"}, ttl_seconds=60)
    staged.delete("cache#s", "ident#1")
    staged.commit()
    assert (store.get("cache#s", "ident#2"), store.get("cache#s", "ident#1")) == ({"id": "B-3"}, None)
    assert staged.staged == 0
    # The TTL staged is the one written
    clock.advance(61)
    assert store.get("cache#s", "ident#2") is None


def test_a_staged_value_is_a_copy(store: InMemorySourceStateStore) -> None:
    staged = StagedSourceState(store)
    value: dict[str, Any] = {"id": "C-3"}
    staged.put("cache#s", "ident#3", value)
    value["id"] = "changed after the put"
    assert staged.get("cache#s", "ident#3") == {"id": "C-3"}


def test_nothing_is_written_without_a_commit(store: InMemorySourceStateStore) -> None:
    # A request refused (422) or not queued (503) drops its staged view: the store never sees it
    staged = StagedSourceState(store)
    staged.put("cache#s", "ident#9", {"id": "Z-9"})
    del staged
    assert store.get("cache#s", "ident#9") is None


class FailsOnSecondWrite(InMemorySourceStateStore):
    def __init__(self) -> None:
        super().__init__(clock=FixedClock())
        self.writes = 0

    def put(self, pk: str, sk: str, value: Any, ttl_seconds: int = 60) -> None:
        self.writes += 1
        if self.writes == 2:
            raise SourceStateUnavailableError("PutItem cache#s: ThrottlingException")
        super().put(pk, sk, value, ttl_seconds)


def test_a_failed_commit_raises_the_stores_error_and_keeps_what_is_left() -> None:
    store = FailsOnSecondWrite()
    staged = StagedSourceState(store)
    for n in range(3):
        staged.put("cache#s", f"ident#{n}", {"id": f"U-{n}"})
    with pytest.raises(SourceStateUnavailableError):
        staged.commit()
    # The first item was written; the two not yet written are still staged
    assert store.get("cache#s", "ident#0") == {"id": "U-0"}
    assert staged.staged == 2
