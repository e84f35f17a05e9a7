"""One consumer invocation's state: what it was given (the deliveries, the dependencies), its time
budget, and what became of it (the outcome). The other consumer modules import these; none of them
defines state another one mutates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from relay.config.schema import ConsumerConfig, EmergenciesConfig
from relay.consumer.emergency_state import EmergencyStore
from relay.consumer.policy import UnitPolicy
from relay.consumer.unit_state import UnitKey, UnitStateStore
from relay.messages import Publisher, QueueMessage
from relay.models import utc_now
from relay.ports.pacing import Pacing
from relay.ports.partner import EmergencyWriter, UnitWriter
from relay.ports.queue import DeadLetterPort, VisibilityPort

OUT_OF_TIME = "out of time"


class Delivery(NamedTuple):
    """One SQS record the consumer could read (a tuple: a batch builds up to 10,000 of them)."""

    message_id: str
    receipt_handle: str
    receive_count: int
    message: QueueMessage


@dataclass
class ConsumerDeps:
    writer: UnitWriter
    state: UnitStateStore
    visibility: VisibilityPort | None = None
    # Without it, messages that can never be written reach the DLQ through maxReceiveCount.
    dead_letters: DeadLetterPort | None = None
    # The consumer's own queue, for delayed rechecks of units a PUT may still reach late. Without it, a
    # unit's messages wait out the late-write window themselves.
    rechecks: Publisher | None = None
    settings: ConsumerConfig = field(default_factory=ConsumerConfig)
    # How units several sources speak of are reconciled (ids, owners, repeats, duty): relay.toml's.
    policy: UnitPolicy = field(default_factory=UnitPolicy)
    max_units_per_request: int = 100
    # Calls and panics (docs/emergencies.md): the partner's calls and panics (the writer, when it is
    # one), their records in the state table, and how they are delivered. Without a store, a call or
    # panic is given back (and reaches the DLQ), never sent without its record.
    emergency_writer: EmergencyWriter | None = None
    emergency_state: EmergencyStore | None = None
    emergencies: EmergenciesConfig = field(default_factory=EmergenciesConfig)
    # The queue's maxReceiveCount: a call or panic not delivered at its last receive is dead-lettered by
    # the consumer with its reason, rather than moved there by SQS without one.
    max_receive_count: int | None = None
    # The partner's shared rate (the writer's client waits on it before every call); its waits count
    # against this invocation's budget. None: no pacing.
    pacer: Pacing | None = None
    # Milliseconds left in the invocation; no PUT starts, and no backoff sleeps, past the budget.
    remaining_ms: Callable[[], int] = lambda: 60_000
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], datetime] = utc_now


class Budget:
    """The invocation's time, and why it stopped calling out, if it did: the one place that says
    whether a call to AWS or the partner may start. The reserve covers the slowest call (a PUT's connect
    and read timeouts; a state call's, with its retries), then the SQS calls after it."""

    def __init__(self, remaining_ms: Callable[[], int], reserve_ms: int) -> None:
        self.remaining_ms = remaining_ms
        self.reserve_ms = reserve_ms
        self.stopped: str | None = None

    def can_start(self) -> bool:
        """Whether a call may start now; when it may not, the invocation is out of time."""
        if self.remaining_ms() >= self.reserve_ms:
            return True
        self.stop(OUT_OF_TIME)
        return False

    def can_wait(self, seconds: float) -> bool:
        """Whether a call may still start after waiting `seconds` (a backoff, a short Retry-After)."""
        return self.remaining_ms() - seconds * 1000 >= self.reserve_ms

    def spare_seconds(self) -> float:
        """How long the invocation can still wait before a call (a slot of the partner's rate)."""
        return (self.remaining_ms() - self.reserve_ms) / 1000

    def stop(self, reason: str) -> None:
        """Stop calling out for the rest of the invocation; the first reason is the one reported."""
        if self.stopped is None:
            self.stopped = reason


@dataclass
class BatchOutcome:
    failed_message_ids: set[str] = field(default_factory=set)
    poison: dict[str, str] = field(default_factory=dict)  # message id -> why it could not be read
    refused_units: dict[UnitKey, str] = field(default_factory=dict)  # the partner's 400s (by bisection)
    dead_lettered: dict[str, str] = field(default_factory=dict)  # message id -> reason, sent to the DLQ
    puts: int = 0
    gets: int = 0
    units_written: int = 0
    resends: int = 0
    superseded: int = 0  # changes older than another writer's value at the partner
    reasserted: int = 0  # the relay's newest value put back over a late PUT of its own
    clamped: int = 0  # event times in the future, clamped to the receive time
    unconfirmed: int = 0  # units a 2xx did not list: given back
    # Partner answers that point at the configuration: a key refused after a fresh fetch, an MDT not
    # linked (403), a status the contract does not give for a bad unit (404, 405, 409 ...), a list
    # of units the relay cannot read.
    misconfigured: int = 0
    degraded: bool = False  # the partner has no list endpoint
    # List answers the relay could not fully read: their MDT's units given back. Counted in
    # PartnerMisconfigured too (a wrong base_url, or a partner that changed its answer: the operator's).
    unreadable_lists: int = 0
    recheck_message_ids: set[str] = field(default_factory=set)  # given back to be looked at again later
    rechecks_scheduled: int = 0  # units a delayed recheck message will look at again
    stopped: str | None = None  # why calls stopped early in this invocation (the budget's reason)
    throttle_delay: int | None = None  # visibility delay given to the failed messages
    # Calls and panics (relay.consumer.emergencies): what was delivered, and the delay of each message
    # given back (its own, which comes before any other rule). Those not delivered are counted from
    # their log lines (the emergency-not-delivered alarm), not as a metric of their own.
    calls_created: int = 0
    calls_updated: int = 0
    panics_sent: int = 0
    emergencies_not_delivered: int = 0
    emergency_delays: dict[str, int] = field(default_factory=dict)

    def counts(self, received: int) -> dict[str, int]:
        """The invocation's metrics, by name."""
        return {
            "MessagesReceived": received,
            "MessagesFailed": len(self.failed_message_ids),
            "MessagesDeadLettered": len(self.dead_lettered),
            "MessagesRechecked": len(self.recheck_message_ids),
            "RechecksScheduled": self.rechecks_scheduled,
            "PartnerPuts": self.puts,
            "PartnerGets": self.gets,
            "UnitsRefused": len(self.refused_units),
            "FieldsSuperseded": self.superseded,
            "FieldsReasserted": self.reasserted,
            "EventTimesClamped": self.clamped,
            "UnconfirmedWrites": self.unconfirmed,
            "PartnerMisconfigured": self.misconfigured,
            "PartnerListMissing": int(self.degraded),
            "CallsCreated": self.calls_created,
            "CallsUpdated": self.calls_updated,
            "PanicsSent": self.panics_sent,
        }

    def response(self, order: Sequence[str]) -> dict[str, list[dict[str, str]]]:
        """The partial batch response Lambda expects, in the batch's own order."""
        return {
            "batchItemFailures": [{"itemIdentifier": mid} for mid in order if mid in self.failed_message_ids]
        }


@dataclass
class Invocation:
    """What the batch and the partner session share: the dependencies, the budget and the outcome."""

    deps: ConsumerDeps
    outcome: BatchOutcome
    budget: Budget

    @classmethod
    def start(cls, deps: ConsumerDeps) -> Invocation:
        budget = Budget(deps.remaining_ms, deps.settings.min_remaining_ms)
        if deps.pacer is not None:
            deps.pacer.bind(budget.spare_seconds, deps.sleep)  # waiting for the partner's rate is time spent
        return cls(deps, BatchOutcome(), budget)
