"""Soak: thousands of webhooks through SQS, the consumer and the Northca emulator, under faults,
with a dispatcher editing units in the MDT while it runs.

Everything real but AWS: `SqsPublisher` puts the messages on moto's SQS (through a client that fails
some SendMessageBatch entries), `SqsEventSourceMapping` drives the real consumer handler with Lambda's
rules, unit state lives in moto's DynamoDB, and the partner is the emulator over HTTP on loopback. The
emulator's clock and the consumer's are one synthetic clock that follows the webhooks' timeline, so
a dispatcher's edit is older than some of the relay's changes and newer than others.

Faults, from a fixed seed: 5xx; 429 and 503 with Retry-After as an integer, a fraction, an HTTP
date, a huge value, garbage and a negative number; timeouts; dropped connections, before and after
the partner applied the PUT; PUTs that land late, after PUTs sent after them; consumer crashes after
some PUTs; partial SendMessageBatch failures; the partner key rotated mid-run; a permanent 400 for a
known set of units; and a DLQ redrive mid-run. Transient faults only hit batches whose messages were
received at most twice, so that every message dead-lettered must be one of the permanently refused
ones: the test checks it is exactly those. The dispatcher does not edit while a late PUT is held
(the residual window docs/consumer.md states).

`make test` runs a smaller size; `make soak` (`--soak-full`) runs 10,000 webhooks over 500 units.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.utils import unix_time_millis as _moto_unix_time_millis
from moto.sqs import models as moto_sqs_models

from relay.aws.emergency_state import DynamoEmergencyStore
from relay.aws.secrets import PowertoolsSecrets
from relay.aws.sqs import REASON_ATTRIBUTE, SqsDeadLetters, SqsPublisher, SqsVisibility
from relay.aws.unit_state import DynamoUnitStateStore
from relay.config.schema import ConsumerConfig, EmergenciesConfig
from relay.consumer.calls import call_id
from relay.consumer.invocation import ConsumerDeps
from relay.consumer.merge import FieldStamp, stamp
from relay.errors import QueueUnavailableError
from relay.handlers.consumer import lambda_handler
from relay.messages import QueueMessage
from relay.models import CLOSED, UNIT_FIELDS, CallChange, Panic, UnitChange
from relay.northca.client import NorthcaClient
from relay.northca.writer import PartnerWriter
from relay.observability import logger
from relay.ports.partner import PartnerUnit, UpsertAnswer
from relay_devtools.emulators.northca import NorthcaEmulator
from relay_devtools.files.template import create_queue_with_dlq
from relay_devtools.local.esm import MappingSettings, SqsEventSourceMapping
from relay_devtools.operations.redrive import redrive
from tests.support.aws import create_unit_state_table

GUILD = "123456789012345678"
SECRET = "northca/partner-key"
TABLE = "soak-unit-state"
MAX_RECEIVE_COUNT = 5
BATCH_SIZE = 100
SEED = 20261128
# Far above any answer's time on a loaded machine: only a timeout fault makes a call time out.
READ_TIMEOUT = 3.0


@dataclass(frozen=True)
class Size:
    webhooks: int
    units: int
    mdts: int
    min_faults: int


SMALL = Size(webhooks=2_000, units=200, mdts=5, min_faults=200)
FULL = Size(webhooks=10_000, units=500, mdts=5, min_faults=1_000)


class SimulatedCrashError(BaseException):
    """The consumer dying mid-invocation: nothing in it may catch this."""


@dataclass
class Faults:
    """Every fault injected, by kind (the emulator's own counters are added at the end)."""

    counts: Counter[str] = field(default_factory=Counter)


class FlakySqs:
    """SQS whose SendMessageBatch drops some entries, answering them in `Failed` as SQS does."""

    def __init__(self, sqs: Any, rng: random.Random, faults: Faults) -> None:
        self.sqs, self.rng, self.faults = sqs, rng, faults
        self.enqueued: Counter[str] = Counter()  # webhook id -> messages really put on the queue

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        dropped = [e for e in Entries if self.rng.random() < 0.1]
        kept = [e for e in Entries if e not in dropped]
        answer: dict[str, Any] = {"Successful": [], "Failed": []}
        if kept:
            answer = dict(self.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=kept))
            answer.setdefault("Failed", [])
        for entry in kept:
            self.enqueued[json.loads(entry["MessageBody"])["webhook_id"]] += 1
        self.faults.counts["sqs-partial-batch"] += len(dropped)
        answer["Failed"] = list(answer["Failed"]) + [
            {"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in dropped
        ]
        return answer


class CrashingWriter:
    """The real partner writer, but the invocation dies after `crash_after` PUTs when armed."""

    def __init__(self, inner: PartnerWriter) -> None:
        self.inner = inner
        self.crash_after: int | None = None

    def list_units(self, mdt_id: str, guild_id: str) -> dict[str, PartnerUnit]:
        return self.inner.list_units(mdt_id, guild_id)

    def upsert_units(self, mdt_id: str, guild_id: str, units: Any, actor: str | None = None) -> UpsertAnswer:
        result = self.inner.upsert_units(mdt_id, guild_id, units, actor)
        if self.crash_after is not None:
            self.crash_after -= 1
            if self.crash_after <= 0:
                self.crash_after = None
                raise SimulatedCrashError
        return result


def retry_after_values(now: datetime) -> list[str]:
    # Each format a partner (or a proxy in front of it) may send.
    return ["1", "0.5", format_datetime(now + timedelta(seconds=2), usegmt=True), "3600", "soon", "-1"]


def transient_faults(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    """A handful of faults for the next invocation's PUTs."""
    faults: list[dict[str, Any]] = []
    for _ in range(rng.randint(2, 8)):
        kind = rng.choices(
            ["status", "throttle", "timeout", "drop", "apply_then_drop", "apply_late"],
            weights=[40, 25, 5, 15, 15, 10],
        )[0]
        if kind == "status":
            faults.append({"kind": "status", "status": rng.choice([500, 502, 504])})
        elif kind == "throttle":
            faults.append(
                {
                    "kind": "throttle",
                    "status": rng.choice([429, 429, 503]),
                    "retry_after": rng.choice(retry_after_values(now)),
                }
            )
        elif kind == "timeout":
            # Held longer than the client's read timeout, whatever the machine's load.
            faults.append({"kind": "timeout", "seconds": READ_TIMEOUT + 1.0})
        else:
            faults.append({"kind": kind})
    return faults


@dataclass
class Webhook:
    message: QueueMessage
    unit_key: tuple[str, str]  # (mdt, unit id)


def make_webhooks(size: Size, rng: random.Random, start: datetime) -> tuple[list[Webhook], list[str]]:
    mdts = [f"00000000-0000-4000-8000-{i:012d}" for i in range(size.mdts)]
    units = [(mdts[i % size.mdts], f"UNIT-{i:04d}") for i in range(size.units)]
    webhooks = []
    for seq in range(size.webhooks):
        mdt, unit = rng.choice(units)
        # 10 % out of order: an event time before the ones already sent.
        at = start + timedelta(seconds=seq - (rng.randint(5, 200) if rng.random() < 0.1 else 0))
        names = rng.sample(UNIT_FIELDS, rng.randint(1, 3))
        fields: dict[str, str | None] = {name: f"{name[:4]}-{seq}" for name in names}
        message = QueueMessage(
            source="soak",
            mdt_id=mdt,
            guild_id=GUILD,
            actor="222222222222222222",
            webhook_id=f"wh-{seq}",
            received_at=start + timedelta(seconds=seq),
            changes=[UnitChange(id=unit, at=at, fields=fields)],
        )
        webhooks.append(Webhook(message, (mdt, unit)))
    return webhooks, mdts


def value_stamps(webhooks: list[Webhook]) -> dict[str, FieldStamp]:
    """Every value is unique to one webhook and field: its stamp tells which is newer."""
    stamps = {}
    for webhook in webhooks:
        message = webhook.message
        for position, change in enumerate(message.changes):
            for value in change.fields.values():
                assert value is not None
                stamps[value] = stamp(change, value, message.received_at, message.webhook_id, position)
    return stamps


class SoakClock:
    """The emulator's and the consumer's clock: the webhooks' timeline, moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at_least(self, moment: datetime) -> None:
        self.now = max(self.now, moment)

    def tick(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Edit:
    mdt: str
    unit: str
    name: str
    value: str
    at: datetime


class Dispatcher:
    """Another writer: edits a field of a unit in the MDT now and then, as a dispatcher in Northca's UI."""

    def __init__(self, emulator: NorthcaEmulator, clock: SoakClock, rng: random.Random) -> None:
        self.emulator, self.clock, self.rng = emulator, clock, rng
        self.edits: list[Edit] = []

    def maybe_edit(self, units: list[tuple[str, str]], rate: float) -> None:
        if self.emulator.late_pending or self.rng.random() >= rate:
            return
        mdt, unit = self.rng.choice(units)
        name = self.rng.choice(UNIT_FIELDS)
        value = f"disp-{len(self.edits)}"
        self.clock.tick()
        self.emulator.edit(mdt, unit, {name: value})
        self.edits.append(Edit(mdt, unit, name, value, self.clock()))


@pytest.fixture(autouse=True)
def _quiet_consumer_logs() -> Iterator[None]:
    # Thousands of expected warnings would bury the figures `make soak` prints.
    level = logger.log_level
    logger.setLevel("CRITICAL")
    yield
    logger.setLevel(level)


@pytest.fixture
def soak_size(request: pytest.FixtureRequest) -> Size:
    return FULL if request.config.getoption("--soak-full") else SMALL


def _fast_unix_time_millis(dt: datetime | None = None) -> float:
    return _moto_unix_time_millis(dt) if dt is not None else time.time() * 1000.0


@pytest.fixture
def soak_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    # moto's SQS computes every message's visibility ~30 times per call through a slow datetime-based
    # clock: the same wall-clock value from time.time() makes the soak several times faster.
    monkeypatch.setattr(moto_sqs_models, "unix_time_millis", _fast_unix_time_millis)
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url, dlq_url = create_queue_with_dlq(
            sqs,
            "soak",
            visibility_timeout=30,  # the mapping expires failed messages itself: no wall-clock waits
            max_receive_count=MAX_RECEIVE_COUNT,
        )
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_unit_state_table(dynamodb, TABLE)
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        secrets.create_secret(Name=SECRET, SecretString="partner-key-1")
        yield {
            "sqs": sqs,
            "queue_url": queue_url,
            "dlq_url": dlq_url,
            "dynamodb": dynamodb,
            "secrets": secrets,
        }


class StalenessWatch:
    """Reads the emulator's request log after every invocation, and follows each field at the partner.

    What the relay decides is checked PUT by PUT: a PUT that applies an older relay value of a field
    than one already applied is a stale overwrite; one that applies "" (or leaves a field out) where a
    writer had set a value is a blanking; one that applies a relay value over a dispatcher's edit that
    is newer than that value reverts the dispatcher. A PUT that lands late is the network's doing, not
    the relay's: it is counted apart, and what the relay does next must repair it (the final check).
    """

    def __init__(self, stamps: dict[str, FieldStamp], dispatcher: Dispatcher) -> None:
        self.stamps = stamps
        self.dispatcher = dispatcher
        self.newest: dict[tuple[str, str, str], tuple[datetime, str]] = {}
        self.held: dict[tuple[str, str, str], str] = {}  # the value each field holds at the partner
        self.landings: dict[tuple[str, str], list[datetime]] = {}  # relay PUTs applied, per unit
        self.stale = self.blanked = self.reverted = 0
        self.puts = self.gets = self.landed_late = 0

    def read(self, emulator: NorthcaEmulator) -> None:
        entries = emulator.requests()
        emulator.clear_requests()
        edits = {e.value: e for e in self.dispatcher.edits}
        for entry in entries:
            if entry["method"] == "GET":
                self.gets += 1
                continue
            if entry["method"] != "PUT":
                continue
            late = entry["fault"] == "landed_late"
            self.puts += 0 if late else 1
            applied = entry["status"] == 200 or entry["fault"] == "apply_then_drop"
            if not applied:
                continue
            self.landed_late += late
            mdt = entry["path"].split("/")[3]
            when = datetime.fromisoformat(entry["at"].replace("Z", "+00:00"))
            for unit in entry["body"]["units"]:
                self.landings.setdefault((mdt, unit["id"]), []).append(when)
                for name in UNIT_FIELDS:
                    self._applied((mdt, unit["id"], name), unit.get(name) or "", edits, late)

    def _applied(self, key: tuple[str, str, str], value: str, edits: dict[str, Edit], late: bool) -> None:
        before = self.held.get(key, "")
        self.held[key] = value
        if late or value == before:
            return
        if value == "":
            self.blanked += bool(before)
            return
        if value in edits:
            return  # a dispatcher's value passed through
        current = self.stamps[value].key()
        if key in self.newest and current < self.newest[key]:
            self.stale += 1
        self.newest[key] = max(current, self.newest.get(key, current))
        edit = edits.get(before)
        if edit is not None and self.stamps[value].at <= edit.at:
            self.reverted += 1


def acceptable_values(
    accepted: list[Webhook], edits: list[Edit], landings: dict[tuple[str, str], list[datetime]]
) -> dict[tuple[str, str, str], set[str]]:
    """Per field, the values the partner may hold once drained: the newer of the relay's newest change
    and the dispatcher's last edit (an edit is dated, at the latest, by the unit's last edit before the
    relay next wrote the unit: a change dated in between may go either way)."""
    relay: dict[tuple[str, str, str], FieldStamp] = {}
    for webhook in accepted:
        message = webhook.message
        for position, change in enumerate(message.changes):
            for name, value in change.fields.items():
                candidate = stamp(change, value, message.received_at, message.webhook_id, position)
                key = (message.mdt_id, change.id, name)
                if candidate.newer_than(relay.get(key)):
                    relay[key] = candidate
    last_edit = {(e.mdt, e.unit, e.name): e for e in edits}
    result: dict[tuple[str, str, str], set[str]] = {}
    for key in set(relay) | set(last_edit):
        change, edit = relay.get(key), last_edit.get(key)
        if edit is None:
            assert change is not None
            result[key] = {change.value or ""}
        elif change is None or change.at <= edit.at:
            result[key] = {edit.value}
        else:
            landed = [t for t in landings.get(key[:2], []) if t > edit.at]
            until = min(landed) if landed else None
            latest = max(e.at for e in edits if e.unit == key[1] and (until is None or e.at < until))
            exact = until is not None and change.at > latest
            result[key] = {change.value or ""} if exact else {change.value or "", edit.value}
    return result


def publish(publisher: SqsPublisher, group: list[Webhook], faults: Faults) -> bool:
    """One ingress request: True once every message is queued; a 503 is retried by the sender."""
    for _attempt in range(5):
        try:
            publisher.send([w.message for w in group])
        except QueueUnavailableError:
            faults.counts["sqs-batch-unavailable"] += 1
            continue
        return True
    return False


def dead_letters(sqs: Any, dlq_url: str) -> tuple[Counter[str], Counter[str]]:
    """The webhook ids in the DLQ, and the reasons they carry (the partner's refusal, or none)."""
    dead: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    while batch := sqs.receive_message(
        QueueUrl=dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        dead.update(json.loads(m["Body"])["webhook_id"] for m in batch)
        for m in batch:
            reason = m.get("MessageAttributes", {}).get(REASON_ATTRIBUTE, {}).get("StringValue", "none")
            reasons[reason.split(":")[-1].strip()] += 1
    return dead, reasons


class CountingVisibility(SqsVisibility):
    def __init__(self, client: Any, queue_url: str, delays: Counter[int]) -> None:
        super().__init__(client, queue_url)
        self.delays = delays

    def delay(self, receipt_handles: Any, seconds: int) -> None:
        self.delays[seconds] += len(receipt_handles)
        super().delay(receipt_handles, seconds)


class SoakRig:
    """The partner emulator, the consumer wired as in Lambda (short timeouts, no real sleeping) and
    the event source mapping, plus the fault schedule of each invocation."""

    def __init__(
        self,
        aws: dict[str, Any],
        mdts: list[str],
        refused_ids: list[str],
        rng: random.Random,
        clock: SoakClock,
    ) -> None:
        self.aws, self.rng, self.clock = aws, rng, clock
        self.faults = Faults()
        self.visibility_delays: Counter[int] = Counter()
        self.emulator = NorthcaEmulator(
            partner_keys=["partner-key-1"],
            links={mdt: [GUILD] for mdt in mdts},
            clock=clock,
            refuse_nulls=True,
        )
        base_url = self.emulator.start("127.0.0.1", 0)
        # The refused units are rejected for good: a 400 whenever a PUT holds one of them.
        self.permanent = {"kind": "reject_units", "unit_ids": refused_ids, "count": None}
        self.emulator.add_faults([self.permanent])
        self.writer = CrashingWriter(
            PartnerWriter(
                PowertoolsSecrets(),
                SECRET,
                lambda key: NorthcaClient(base_url, key, connect_timeout=5.0, read_timeout=READ_TIMEOUT),
            )
        )
        self.state = DynamoUnitStateStore(TABLE, aws["dynamodb"])
        self.settings = ConsumerConfig(min_remaining_ms=2_000, backoff_seconds=0.01, max_backoff_seconds=0.05)
        self.esm = SqsEventSourceMapping(
            aws["sqs"],
            aws["queue_url"],
            self.handler,
            MappingSettings(batch_size=BATCH_SIZE, window_seconds=0, function_timeout_seconds=60),
        )

    def handler(self, event: dict[str, Any], context: Any) -> Any:
        deps = ConsumerDeps(
            writer=self.writer,
            state=self.state,
            visibility=CountingVisibility(self.aws["sqs"], self.aws["queue_url"], self.visibility_delays),
            dead_letters=SqsDeadLetters(self.aws["sqs"], self.aws["dlq_url"]),
            settings=self.settings,
            remaining_ms=context.get_remaining_time_in_millis,
            sleep=lambda seconds: None,
            clock=self.clock,
        )
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # Powertools prints one EMF line per call
                return lambda_handler(event, context, deps=deps)
        except SimulatedCrashError:
            self.faults.counts["consumer-crash"] += 1
            raise RuntimeError("consumer crashed") from None

    def invoke_once(self, watch: StalenessWatch) -> bool:
        messages = self.esm.gather(wait=False)
        if not messages:
            return False
        # Transient faults only for batches of messages received at most twice (see the module doc).
        fresh = max(int(m["Attributes"]["ApproximateReceiveCount"]) for m in messages) <= 2
        if fresh and self.rng.random() < 0.1:
            self.writer.crash_after = self.rng.randint(1, 3)  # dies after its first PUTs went through
        elif fresh:
            self.emulator.add_faults(transient_faults(self.rng, datetime.now(UTC)))
        self.clock.tick()
        self.esm.invoke(messages)
        self.writer.crash_after = None
        self.emulator.clear_faults()
        self.emulator.add_faults([self.permanent])
        # PUTs held back land now, after the ones this invocation sent after them, and before the
        # messages the consumer gave back to be looked at again come back (after the window).
        self.clock.tick()
        self.emulator.land_late()
        watch.read(self.emulator)
        return True

    def drain_visible(
        self, watch: StalenessWatch, dispatcher: Dispatcher, units: list[tuple[str, str]]
    ) -> None:
        # Keep moto's queue short (each of its calls walks every message): consume what is visible.
        while self.invoke_once(watch):
            dispatcher.maybe_edit(units, rate=0.3)
        self.esm.expire_visibility()

    def drain(self, watch: StalenessWatch) -> None:
        """Until failed messages stop coming back: each ends written or, after maxReceiveCount, dead."""
        for _ in range(10_000):
            if not self.invoke_once(watch) and not self.esm.expire_visibility():
                return

    def rotate_partner_key(self) -> None:
        # The consumer's cached key is refused once, then fetched again (Secrets Manager has the new one).
        self.aws["secrets"].put_secret_value(SecretId=SECRET, SecretString="partner-key-2")
        self.emulator.set_partner_keys(["partner-key-2"])
        self.faults.counts["key-rotation"] += 1


def test_soak_nothing_lost_stale_blanked_or_reverted_and_the_dlq_is_exactly_the_refused(
    soak_aws: dict[str, Any], soak_size: Size
) -> None:
    # Given webhooks over many units, of which about 2 % the partner refuses for good, and a dispatcher
    rng = random.Random(SEED)
    start = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    webhooks, mdts = make_webhooks(soak_size, rng, start)
    all_units = sorted({w.unit_key for w in webhooks})
    refused_units = {unit for unit in all_units if rng.random() < 0.02}
    sqs = soak_aws["sqs"]
    clock = SoakClock(start)
    rig = SoakRig(soak_aws, mdts, sorted({unit_id for _, unit_id in refused_units}), rng, clock)
    faults, emulator, esm = rig.faults, rig.emulator, rig.esm
    dispatcher = Dispatcher(emulator, clock, rng)
    watch = StalenessWatch(value_stamps(webhooks), dispatcher)
    flaky = FlakySqs(sqs, rng, faults)
    publisher = SqsPublisher(soak_aws["queue_url"], flaky, sleep=lambda seconds: None)  # type: ignore[arg-type]
    editable = [unit for unit in all_units if unit not in refused_units]

    # When the webhooks arrive in slices (20 % delivered twice), with the consumer running in between
    accepted: set[str] = set()
    deliveries = 0
    slices = [webhooks[i : i + 100] for i in range(0, len(webhooks), 100)]
    for number, batch in enumerate(slices):
        clock.at_least(max(w.message.received_at for w in batch))
        arriving = batch + [w for w in batch if rng.random() < 0.2]
        rng.shuffle(arriving)
        for group in (arriving[i : i + 10] for i in range(0, len(arriving), 10)):
            if publish(publisher, group, faults):
                accepted |= {w.message.webhook_id or "" for w in group}
                deliveries += len(group)
        if number == len(slices) // 2:
            rig.rotate_partner_key()
        if number == (3 * len(slices)) // 4:
            faults.counts["redrive-moved"] += redrive(sqs, soak_aws["dlq_url"], soak_aws["queue_url"]).moved
        rig.drain_visible(watch, dispatcher, editable)
    # And the queue is drained
    rig.drain(watch)
    emulator_faults = emulator.fault_counts
    emulator.stop()

    # Then every field holds the newer of the relay's newest change and the dispatcher's last edit
    by_id = {w.message.webhook_id: w for w in webhooks}
    partner = {mdt: emulator.units(mdt) for mdt in mdts}
    kept = [by_id[wid] for wid in accepted if by_id[wid].unit_key not in refused_units]
    wrong = {
        key: (partner[key[0]].get(key[1], {}).get(key[2], ""), values)
        for key, values in acceptable_values(kept, dispatcher.edits, watch.landings).items()
        if partner[key[0]].get(key[1], {}).get(key[2], "") not in values
    }
    lost = len(wrong)
    dead, reasons = dead_letters(sqs, soak_aws["dlq_url"])
    expected_dead = Counter(
        {wid: n for wid, n in flaky.enqueued.items() if by_id[wid].unit_key in refused_units}
    )
    refused_accepted = {wid for wid in accepted if by_id[wid].unit_key in refused_units}
    lost += len(refused_accepted - set(dead))
    held_by_dispatcher = sum(
        1
        for e in {(e.mdt, e.unit, e.name): e for e in dispatcher.edits}.values()
        if partner[e.mdt].get(e.unit, {}).get(e.name) == e.value
    )

    injected = Counter({k: v for k, v in emulator_faults.items() if v}) + faults.counts
    injected.pop("redrive-moved", None)
    print(
        f"\nsoak: {len(webhooks)} webhooks over {len(all_units)} units and {len(mdts)} MDTs"
        f"\n  accepted: {len(accepted)} webhooks in {deliveries} deliveries"
        f" ({deliveries - len(accepted)} duplicates), enqueued {sum(flaky.enqueued.values())} messages"
        f"\n  delivered: {esm.stats.deleted} messages acknowledged (written, or dead-lettered with a reason;"
        f" redriven ones count again),"
        f" {esm.stats.invocations} invocations"
        f"\n  dispatcher: {len(dispatcher.edits)} edits, {held_by_dispatcher} fields still hold theirs"
        f" (newer than any relay change to them)"
        f"\n  dead-lettered: {sum(dead.values())} messages ({len(dead)} webhooks);"
        f" expected {sum(expected_dead.values())} ({len(refused_units)} refused units);"
        f" reasons: {dict(reasons)}"
        f"\n  lost: {lost}   stale overwrites: {watch.stale}   blanked fields: {watch.blanked}"
        f"   dispatcher edits reverted by older changes: {watch.reverted}"
        f"\n  PUTs sent: {watch.puts}  (one per webhook would be {deliveries});"
        f" GETs: {watch.gets} ({watch.gets / max(esm.stats.invocations, 1):.2f} per invocation);"
        f" PUTs landed late and repaired: {watch.landed_late}"
        f"\n  redriven mid-run: {faults.counts['redrive-moved']}"
        f"   visibility delays given (seconds: messages): {dict(rig.visibility_delays)}"
        f"\n  faults injected: {sum(injected.values())} of {len(injected)} kinds:"
        f" {dict(sorted(injected.items()))}"
    )
    assert wrong == {}
    assert lost == 0
    assert watch.stale == 0
    assert watch.blanked == 0
    assert watch.reverted == 0
    assert dead == expected_dead
    # Each dead letter says why: dead-lettered by the consumer at once, not by maxReceiveCount
    assert reasons == Counter({"Each unit must include a non-empty id": sum(dead.values())})
    assert len(accepted) == len(webhooks)
    assert dispatcher.edits and held_by_dispatcher
    assert sum(injected.values()) >= soak_size.min_faults
    assert len(injected) >= 9
    assert faults.counts["redrive-moved"] > 0


# ------------------------------------------------------------------ calls and panics (issue 18)


@dataclass(frozen=True)
class EmergencySize:
    calls: int
    panics: int
    min_faults: int


EMERGENCY_SMALL = EmergencySize(calls=150, panics=100, min_faults=60)
EMERGENCY_FULL = EmergencySize(calls=1_000, panics=500, min_faults=400)
# Each third of the run, the partner answers a repeated call id another way (and refuses empty PATCHes
# in the last): the relay must hold its promises under every answer, even one that changes.
MODES = [("conflict", "record"), ("duplicate", "record"), ("upsert", "refused")]
EMERGENCY_RECEIVES = 20


def emergency_faults(rng: random.Random) -> list[dict[str, Any]]:
    """A handful of faults for the next invocation's calls and panics."""
    faults: list[dict[str, Any]] = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.choices(
            ["status", "throttle", "timeout", "drop", "apply_then_drop", "apply_late"],
            weights=[30, 10, 3, 20, 25, 12],
        )[0]
        fault: dict[str, Any] = {"kind": kind, "target": "any"}
        if kind == "status":
            fault["status"] = rng.choice([500, 502, 504])
        elif kind == "throttle":
            fault |= {"status": 429, "retry_after": rng.choice(["0.5", "1", "30"])}
        elif kind == "timeout":
            fault["seconds"] = READ_TIMEOUT + 1.0
        faults.append(fault)
    return faults


def emergency_messages_for(
    size: EmergencySize, rng: random.Random, start: datetime, mdt: str
) -> tuple[list[QueueMessage], dict[str, list[CallChange]], list[str]]:
    """Each sender call's events (a create, updates, maybe a close) and each press, as queue messages."""
    calls: dict[str, list[CallChange]] = {}
    messages: list[QueueMessage] = []
    for n in range(size.calls):
        key = f"{n:05d}"
        at = start + timedelta(seconds=n)
        events = [CallChange(key=key, at=at, fields={"location": f"loc-{n}-0"}, created_by="caller")]
        for step in range(1, rng.randint(1, 4)):
            name = rng.choice(["location", "description", "priority"])
            events.append(
                CallChange(
                    key=key,
                    at=at + timedelta(seconds=step),
                    fields={name: f"{name[:3]}-{n}-{step}"},
                    opens=False,
                )
            )
        if rng.random() < 0.5:
            events.append(
                CallChange(key=key, at=at + timedelta(seconds=5), fields={"status": CLOSED}, opens=False)
            )
        calls[key] = events
        messages += [
            QueueMessage(
                source="soak",
                mdt_id=mdt,
                guild_id=GUILD,
                webhook_id=f"call-{key}-{i}",
                received_at=e.at,
                calls=[e],
            )
            for i, e in enumerate(events)
        ]
    units = [f"P-{n:04d}" for n in range(size.panics)]
    for n, unit in enumerate(units):
        panic = Panic(unit=unit, at=start + timedelta(seconds=n), key=f"press-{n}")
        messages.append(
            QueueMessage(
                source="soak",
                mdt_id=mdt,
                guild_id=GUILD,
                webhook_id=f"panic-{n}",
                received_at=panic.at,
                panics=[panic],
            )
        )
    return messages, calls, units


@pytest.fixture
def emergency_size(request: pytest.FixtureRequest) -> EmergencySize:
    return EMERGENCY_FULL if request.config.getoption("--soak-full") else EMERGENCY_SMALL


class EmergencyRig:
    """The emulator (its modes changing as the run goes), the consumer on the emergency queue as in
    Lambda, and the faults of each invocation; time moves as the consumer's visibility delays say."""

    def __init__(self, aws: dict[str, Any], mdt: str, rng: random.Random, clock: SoakClock) -> None:
        self.aws, self.mdt, self.rng, self.clock = aws, mdt, rng, clock
        sqs = aws["sqs"]
        self.queue_url, self.dlq_url = create_queue_with_dlq(
            sqs, "soak-emergency", visibility_timeout=30, max_receive_count=EMERGENCY_RECEIVES + 1
        )
        self.emulator = NorthcaEmulator(partner_keys=["partner-key-1"], links={mdt: [GUILD]}, clock=clock)
        base_url = self.emulator.start("127.0.0.1", 0)
        self.writer = PartnerWriter(
            PowertoolsSecrets(),
            SECRET,
            lambda key: NorthcaClient(base_url, key, connect_timeout=5.0, read_timeout=READ_TIMEOUT),
        )
        self.delays: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()
        self.esm = SqsEventSourceMapping(
            sqs, self.queue_url, self.handler, MappingSettings(batch_size=10, window_seconds=0)
        )

    def handler(self, event: dict[str, Any], context: Any) -> Any:
        aws = self.aws
        deps = ConsumerDeps(
            writer=self.writer,
            state=DynamoUnitStateStore(TABLE, aws["dynamodb"], clock=self.clock),
            emergency_writer=self.writer,
            emergency_state=DynamoEmergencyStore(TABLE, aws["dynamodb"], clock=self.clock),
            emergencies=EmergenciesConfig(panic_repeat_window_seconds=3600),
            max_receive_count=EMERGENCY_RECEIVES,
            visibility=CountingVisibility(aws["sqs"], self.queue_url, self.delays),
            dead_letters=SqsDeadLetters(aws["sqs"], self.dlq_url),
            settings=ConsumerConfig(min_remaining_ms=2_000, backoff_seconds=0.01, max_backoff_seconds=0.05),
            remaining_ms=context.get_remaining_time_in_millis,
            sleep=lambda seconds: None,
            clock=self.clock,
        )
        with contextlib.redirect_stdout(io.StringIO()):
            return lambda_handler(event, context, deps=deps)

    def invoke(self) -> bool:
        batch = self.esm.gather(wait=False)
        if not batch:
            return False
        fresh = max(int(m["Attributes"]["ApproximateReceiveCount"]) for m in batch) <= 2
        if fresh and self.rng.random() < 0.5:
            planned = emergency_faults(self.rng)
            self.faults.update(f["kind"] for f in planned)
            self.emulator.add_faults(planned)
        before = Counter(self.delays)
        self.clock.tick()
        self.esm.invoke(batch)
        self.emulator.clear_faults()
        self.clock.tick()
        if self.rng.random() < 0.5:
            self.emulator.land_late()
        # Time passes as the consumer asked before anything it gave back is seen again.
        asked = self.delays - before
        if asked:
            self.clock.tick(max(asked))
        return True

    def maybe_edit(self, edits: list[tuple[str, str, str, datetime]]) -> None:
        """A dispatcher edits a call now and then (not while a request is held, nor without reads)."""
        held = self.emulator.calls(self.mdt)
        if not held or self.emulator.late_pending or self.emulator.modes["empty_patch"] != "record":
            return
        if self.rng.random() < 0.2:
            call = self.rng.choice(held)
            name = self.rng.choice(["description", "priority"])
            self.clock.tick()
            self.emulator.edit_call(self.mdt, call["id"], {name: f"disp-{len(edits)}"})
            edits.append((call["id"], name, f"disp-{len(edits)}", self.clock()))


def emergency_outcome(
    requests: list[dict[str, Any]], records: list[dict[str, Any]], calls: dict[str, list[CallChange]]
) -> tuple[int, int, list[str]]:
    """(duplicate calls, requests that reopened a closed call, closed calls not closed at the end)."""
    by_id: Counter[str] = Counter(r["id"] for r in records)
    duplicates = sum(n - 1 for n in by_id.values()) + sum(1 for i in by_id if not i.startswith("soak."))
    closed = {
        call_id("soak", k)
        for k, events in calls.items()
        if any(e.fields.get("status") == CLOSED for e in events)
    }
    status = {r["id"]: r["status"] for r in records}
    reopened = 0
    for entry in requests:
        body = entry["body"] if isinstance(entry["body"], dict) else {}
        if entry["method"] != "PATCH" or entry["status"] != 200:
            continue
        target = entry["path"].rsplit("/", 1)[-1]
        reopened += (
            target in closed and body.get("status") not in (None, CLOSED) and status.get(target) != CLOSED
        )
    return duplicates, reopened, sorted(c for c in closed if status.get(c) != CLOSED)


def test_soak_emergencies_no_duplicate_call_no_lost_panic_no_reopened_call(
    soak_aws: dict[str, Any], emergency_size: EmergencySize
) -> None:
    # Given sender calls (each created, updated, half of them closed) and panics (a tenth of them for
    # units the MDT does not hold), each delivered once and a fifth of them twice, in any order
    rng = random.Random(SEED + 18)
    start = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    mdt = "00000000-0000-4000-8000-000000000018"
    clock = SoakClock(start)
    rig = EmergencyRig(soak_aws, mdt, rng, clock)
    emulator = rig.emulator
    messages, calls, units = emergency_messages_for(emergency_size, rng, start, mdt)
    for unit in units:
        if rng.random() >= 0.1:
            emulator.edit(mdt, unit, {"status": "10-8"})
    # In any order, each copy (a sender's retry, a redelivery) soon after the first: within its slice
    # of 50 or the next, well inside the repeat window the consumer is given.
    rng.shuffle(messages)
    arriving = [copy for m in messages for copy in [m] * (2 if rng.random() < 0.2 else 1)]
    for start_at in range(0, len(arriving), 25):
        window = arriving[start_at : start_at + 50]
        rng.shuffle(window)
        arriving[start_at : start_at + 50] = window
    publisher = SqsPublisher(rig.queue_url, soak_aws["sqs"])
    edits: list[tuple[str, str, str, datetime]] = []

    # When they are published in slices, with the consumer and a dispatcher at work in between, while
    # the partner's answer to a repeated call id (and to an empty PATCH) changes each third of the run
    for number, slice_ in enumerate(arriving[i : i + 50] for i in range(0, len(arriving), 50)):
        repeated, reads = MODES[min(3 * number * 50 // len(arriving), 2)]
        emulator.set_modes(repeated_call_id=repeated, empty_patch=reads)
        publisher.send(slice_)
        while rig.invoke():
            rig.maybe_edit(edits)
        rig.esm.expire_visibility()
    emulator.land_late()
    for _ in range(5_000):
        if not rig.invoke() and not rig.esm.expire_visibility():
            break
    requests, records, panics = emulator.requests(), emulator.calls(mdt), emulator.panics(mdt)
    emulator.stop()

    # Then one Northca call per sender call, none under an id of the partner's own, closed ones closed
    duplicates, reopened, not_closed = emergency_outcome(requests, records, calls)
    # And every press panicked its unit: once, or twice where the panic's answer was lost
    pressed: Counter[str] = Counter(p["unit_id"] for p in panics)
    lost_panics = [u for u in units if pressed[u] == 0]
    lost_answers: Counter[str] = Counter(
        e["path"].rsplit("/", 2)[-2]
        for e in requests
        if e["path"].endswith("/panic") and e["fault"] in ("apply_then_drop", "apply_late", "timeout")
    )
    doubles = {u: n for u, n in pressed.items() if n > 1}
    unexplained = {u: n for u, n in doubles.items() if n > 1 + lost_answers[u]}
    dead, _ = dead_letters(soak_aws["sqs"], rig.dlq_url)
    kinds = Counter(
        "panic" if e["path"].endswith("/panic") else "read" if e["body"] == {} else e["method"]
        for e in requests
        if "/calls" in e["path"] or e["path"].endswith("/panic")
    )
    print(
        f"\nsoak, calls and panics: {len(calls)} sender calls and {len(units)} panics,"
        f" {len(messages)} messages published {len(arriving)} times ({len(arriving) - len(messages)} copies)"
        f"\n  Northca calls: {len(records)} (duplicates: {duplicates}); reopened: {reopened};"
        f" closed calls not closed: {len(not_closed)}"
        f"\n  panics: {sum(pressed.values())} for {len(pressed)} presses (lost: {len(lost_panics)};"
        f" shown twice: {len(doubles)}, each after a lost answer: {not unexplained})"
        f"\n  partner requests: {dict(kinds)}; dispatcher edits: {len(edits)}"
        f"\n  {rig.esm.stats.invocations} invocations, {rig.esm.stats.deleted} messages done;"
        f" dead letters: {sum(dead.values())}"
        f"\n  faults injected: {sum(rig.faults.values())}: {dict(sorted(rig.faults.items()))};"
        f" visibility delays (seconds: messages): {dict(sorted(rig.delays.items()))}"
    )
    assert duplicates == 0
    assert reopened == 0 and not_closed == []
    assert lost_panics == [] and unexplained == {}
    assert sum(dead.values()) == 0
    assert len(records) == len(calls)
    assert sum(rig.faults.values()) >= emergency_size.min_faults
