"""The consumer's fakes and builders: a partner that behaves like Northca, recording ports, and the
queue messages and SQS records the consumer suites feed it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from relay.config.schema import ConsumerConfig
from relay.consumer.invocation import BatchOutcome, ConsumerDeps
from relay.consumer.pipeline import process_batch
from relay.consumer.policy import UnitPolicy
from relay.consumer.unit_state import InMemoryUnitStateStore, UnitKey, UnitState
from relay.errors import NorthcaError, NorthcaInvalidRequestError, QueueUnavailableError
from relay.messages import QueueMessage
from relay.models import UNIT_FIELDS, UnitChange, format_instant
from relay.northca.wire import confirmed_ids, read_unit_list, record_json
from relay.ports.partner import PartnerUnit, UnitRecord, UpsertAnswer
from relay.ports.queue import DeadLetter
from tests.support.clocks import FixedClock
from tests.support.constants import ACTOR, GUILD, MDT, NOW

FULL = {"officer_name": "B. Bubbleton", "officer_badge": "512", "department": "Patrol", "rank": "PO"}


class MemoryPartner:
    """Northca's active units as the contract and the observed partner behave, in memory.

    An upsert replaces every writable field: one the body leaves out is stored as "". Each write sets
    the unit's `updated_at` to the injected clock. `edit` is another writer (a dispatcher in Northca's
    UI): it changes some fields and `updated_at`, as the partner would. `violations` collects what the
    relay must never do: two units with one id in a request, a null sent for a field.

    It answers in Northca's wire format, read by the relay's own reader (relay.northca.wire): a fake
    that gives an odd answer overrides `list_records` (the list's `data`) or `answer` (the upsert's).
    """

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: NOW)
        self.units: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str, list[dict[str, Any]]]] = []
        self.lists: list[tuple[str, str]] = []
        self.violations: list[str] = []
        # Exceptions to raise instead of answering, one per call, in order (None = answer normally).
        self.script: list[NorthcaError | None] = []
        self.list_script: list[NorthcaError | None] = []
        self.refuse: set[str] = set()  # unit ids answered with a 400 whenever a body holds them

    def upsert_units(
        self, mdt_id: str, guild_id: str, units: Sequence[UnitRecord], actor: str | None = None
    ) -> UpsertAnswer:
        return UpsertAnswer(confirmed_ids(self.answer(mdt_id, guild_id, [record_json(u) for u in units])))

    def answer(self, mdt_id: str, guild_id: str, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The `data` of the answer to an upsert of these wire records."""
        self.requests.append((mdt_id, guild_id, batch))
        ids = [u["id"] for u in batch]
        if len(ids) != len(set(ids)):
            self.violations.append(f"two units with one id in {ids}")
            raise NorthcaInvalidRequestError("Duplicate unit id in request body", 400)
        if self.script:
            failure = self.script.pop(0)
            if failure is not None:
                raise failure
        if self.refuse & set(ids):
            raise NorthcaInvalidRequestError("Each unit must include a non-empty id", 400)
        return [self.apply(mdt_id, unit) for unit in batch]

    def apply(self, mdt_id: str, unit: dict[str, Any]) -> dict[str, Any]:
        """Store one upserted unit (the partner's quirk included); returns the stored record."""
        nulls = [name for name in UNIT_FIELDS if name in unit and unit[name] is None]
        if nulls:
            self.violations.append(f"{unit['id']} sent null for {nulls}")
        record = {"id": unit["id"], **{name: unit.get(name) or "" for name in UNIT_FIELDS}}
        record["updated_at"] = format_instant(self.clock())
        self.units[(mdt_id, unit["id"])] = record
        return dict(record)

    def list_units(self, mdt_id: str, guild_id: str) -> dict[str, PartnerUnit]:
        self.lists.append((mdt_id, guild_id))
        if self.list_script:
            failure = self.list_script.pop(0)
            if failure is not None:
                raise failure
        return read_unit_list(self.list_records(mdt_id, guild_id))

    def list_records(self, mdt_id: str, guild_id: str) -> Any:
        """The `data` of the list answer, in the wire format."""
        return [dict(r) for (mdt, _), r in sorted(self.units.items()) if mdt == mdt_id]

    def edit(self, unit_id: str, mdt_id: str = MDT, **fields: str) -> None:
        """Another writer changes some fields of a unit (creating it when absent)."""
        record = self.units.get((mdt_id, unit_id)) or {"id": unit_id, **dict.fromkeys(UNIT_FIELDS, "")}
        self.units[(mdt_id, unit_id)] = {**record, **fields, "updated_at": format_instant(self.clock())}

    def unit(self, unit_id: str, mdt_id: str = MDT) -> dict[str, Any]:
        """A unit's writable fields as the partner holds them."""
        record = self.units[(mdt_id, unit_id)]
        return {name: record[name] for name in UNIT_FIELDS}

    def puts(self) -> list[dict[str, Any]]:
        """Every unit of every PUT, in order."""
        return [unit for _, _, units in self.requests for unit in units]


class RecordingVisibility:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str], int]] = []

    def delay(self, receipt_handles: Sequence[str], seconds: int) -> None:
        self.calls.append((list(receipt_handles), seconds))


class RecordingPublisher:
    """The consumer's own queue for delayed rechecks: keeps what it is sent, or refuses when `down`."""

    def __init__(self) -> None:
        self.sent: list[tuple[list[QueueMessage], int]] = []
        self.down = False

    def send(self, messages: Sequence[QueueMessage], delay_seconds: int = 0) -> int:
        if self.down:
            raise QueueUnavailableError()
        self.sent.append((list(messages), delay_seconds))
        return len(messages)


class RecordingDeadLetters:
    """The DLQ port: keeps what it is sent; refuses the ids in `refuse` (as a failed batch entry)."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []
        self.refuse: set[str] = set()

    def send(self, letters: Sequence[DeadLetter]) -> set[str]:
        taken = [letter for letter in letters if letter.message_id not in self.refuse]
        self.letters += taken
        return {letter.message_id for letter in taken}

    def reasons(self) -> dict[str, str]:
        return {letter.message_id: letter.reason for letter in self.letters}


def message(
    webhook: str, *changes: UnitChange, mdt: str = MDT, received: int = 0, source: str = "cad"
) -> QueueMessage:
    return QueueMessage(
        source=source,
        mdt_id=mdt,
        guild_id=GUILD,
        actor=ACTOR,
        webhook_id=webhook,
        received_at=NOW + timedelta(seconds=received),
        changes=list(changes),
    )


def change(unit: str, seconds: int, **fields: str | None) -> UnitChange:
    return UnitChange(id=unit, at=NOW + timedelta(seconds=seconds), fields=fields)


def record(message_id: str, body: QueueMessage | str, receive_count: int = 1) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body if isinstance(body, str) else body.body(),
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
    }


# Events happen at NOW + a few seconds; the consumer (and the partner's clock) run a minute later.
CONSUMER_START = 60


def failures(answer: dict[str, list[dict[str, str]]]) -> set[str]:
    return {item["itemIdentifier"] for item in answer["batchItemFailures"]}


class Harness:
    """A consumer with in-memory ports, one clock for it and the partner, and a recorded sleep."""

    def __init__(self, **settings: Any) -> None:
        self.clock = FixedClock()
        self.clock.advance(CONSUMER_START)
        self.partner = MemoryPartner(self.clock)
        self.state: InMemoryUnitStateStore = InMemoryUnitStateStore()
        self.visibility = RecordingVisibility()
        self.dead_letters: RecordingDeadLetters | None = None
        self.rechecks: RecordingPublisher | None = None
        self.sleeps: list[float] = []
        self.remaining = 60_000
        self.settings = ConsumerConfig(**settings)
        self.max_units = 100
        self.outcome = BatchOutcome()
        self.policy = UnitPolicy()

    def deps(self, writer: Any = None) -> ConsumerDeps:
        return ConsumerDeps(
            writer=writer or self.partner,
            state=self.state,
            visibility=self.visibility,
            dead_letters=self.dead_letters,
            rechecks=self.rechecks,
            settings=self.settings,
            max_units_per_request=self.max_units,
            policy=self.policy,
            remaining_ms=lambda: self.remaining,
            sleep=self.sleeps.append,
            clock=self.clock,
        )

    def run(self, *records: dict[str, Any], writer: Any = None) -> set[str]:
        self.outcome = process_batch(list(records), self.deps(writer))
        self.clock.advance(1)
        return failures(self.outcome.response([r["messageId"] for r in records]))

    def stored(self, unit: str, mdt: str = MDT) -> UnitState:
        return self.state.items[UnitKey(mdt, GUILD, unit)]
