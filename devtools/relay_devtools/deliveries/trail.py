"""Every delivery, its outcome and why, read from the relay's own log lines.

The ingress logs one line per answer ("webhook accepted", "webhook refused", ...) whose correlation id
is the webhook id once known; the consumer logs "unit outcomes" lines (an entry per unit and
invocation, many to a line), "emergency outcomes" lines (an entry per call and panic: emergencies.py),
and "message dead-lettered" and "event time in the future clamped ..." lines that name the webhook.
`build_deliveries` joins them into one record per delivery. It is the one reader of those lines:
`relay local` feeds it the records it captures in-process (feed.py), `relay deliveries --stack` the
ones it reads from CloudWatch Logs (cloudwatch.py).

A record is a Powertools JSON log line as a dict. Unknown lines are ignored, so the reader keeps
working when the relay logs more; a known line whose keys have shapes the relay never writes (a log
group anyone can write to, a line cut short) is skipped and counted (`Trail.unreadable`), never a crash.
What the lines say is the senders' text: `render_lines` writes their control characters out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from relay.consumer.policy import canonical_id
from relay_devtools.deliveries.emergencies import accepted_names, checked_emergency, fate_of
from relay_devtools.deliveries.fates import Delivery, UnitFate, apply, conclude, iso
from relay_devtools.deliveries.lines import (
    OddLineError,
    checked_row,
    count,
    parse_log_message,
    record_time,
    rows,
    status_code,
    texts,
)
from relay_devtools.options import printable

__all__ = [
    "Delivery",
    "Trail",
    "build_deliveries",
    "parse_log_message",
    "read_trail",
    "record_time",
    "render_lines",
]

# The ingress's answer lines (relay/handlers/ingress.py), by message.
ACCEPTED = "webhook accepted"
REPLAYED = "webhook replayed: already queued"
REFUSED = "webhook refused"
REJECTED = "webhook rejected"
NOT_QUEUED = "webhook not queued, sender should retry"
ANSWERS = {ACCEPTED: "accepted", REPLAYED: "replayed", REFUSED: "refused", REJECTED: "rejected"}
ANSWERS[NOT_QUEUED] = "not queued"
# The consumer's lines (relay/consumer/pipeline.py and batch.py).
UNIT_OUTCOMES = "unit outcomes"  # {"units": [{unit_id, webhook_ids, outcome, ...}, ...]}
EMERGENCY_OUTCOMES = "emergency outcomes"  # {"emergencies": [{kind, key, outcome, webhook_ids, ...}]}
DEAD_LETTERED = "message dead-lettered"
CLAMPED = "event time in the future clamped to the receive time"
# Lines every invocation writes that say nothing about one delivery.
NOT_NOTES = {"replay store unavailable", "roster poll"}
# relay.toml's warnings, logged once per cold start in whichever request comes first: about the config,
# not that delivery (relay.config.loader.config_warnings).
NOT_NOTES |= {
    "relay.toml: source without replay protection",
    "relay.toml: a status one source sets another refuses",
}
# The scheduled ER:LC roster poll names its changes `erlc-roster:SERVER:TIME` (relay/erlc/poller.py).
ROSTER_ID_PREFIX = "erlc-roster:"


def _note(record: Mapping[str, Any]) -> str:
    """A short sentence for one of a request's other lines: its message and its telling keys."""
    details = [
        f"{key}={record[key]}"
        for key in ("player", "status", "event_type", "ident", "reason", "error")
        if record.get(key) not in (None, "")
    ]
    return str(record.get("message")) + (f" ({', '.join(details)})" if details else "")


class _Builder:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.by_webhook: dict[str, Delivery] = {}
        self.by_request: dict[str, Delivery] = {}
        self.pending_notes: dict[str, list[str]] = {}
        self.polls: dict[tuple[str, str], Delivery] = {}

    def add(self, record: Mapping[str, Any], moment: datetime) -> None:
        message = str(record.get("message") or "")
        if message in ANSWERS:
            self._answer(record, moment, message)
        elif message in (UNIT_OUTCOMES, EMERGENCY_OUTCOMES):
            self._outcomes(record, moment, message)
        elif message in (DEAD_LETTERED, CLAMPED):
            self._webhook_line(record, message, moment)
        elif (
            message
            and message not in NOT_NOTES
            and (record.get("level") in ("INFO", "WARNING") or record.get("idents") is not None)
        ):
            # Another line of a request (an adapter saying why it skipped a change): kept for its answer.
            request = _request_id(record)
            if request:
                self.pending_notes.setdefault(request, []).append(_note(record))

    def _outcomes(self, record: Mapping[str, Any], moment: datetime, message: str) -> None:
        """A consumer's outcome line: a row per unit, or per call and panic. Every row is read before any
        is applied: an odd one skips the whole line (OddLineError)."""
        if message == UNIT_OUTCOMES:
            merged = [checked_row({**record, **row}) for row in rows(record.get("units"))]
            for row in merged:
                self._unit_outcome(row, moment)
            return
        emergencies = [checked_emergency(row) for row in rows(record.get("emergencies"))]
        for emergency in emergencies:
            self._emergency_outcome(emergency, moment)

    def _webhook_line(self, record: Mapping[str, Any], message: str, moment: datetime) -> None:
        """A consumer line about one webhook's message: dead-lettered, or an event time clamped."""
        delivery = self.by_webhook.get(str(record.get("webhook_id")))
        if delivery is None:
            return
        if message == DEAD_LETTERED:
            reason = str(record.get("reason") or "")
            delivery.dead_letters.append(
                {"message_id": str(record.get("message_id")), "reason": reason, "at": iso(moment)}
            )
            return
        unit = str(record.get("unit_id") or "")
        fate = delivery.fates.setdefault(canonical_id(unit), UnitFate(unit, "queued"))
        if CLAMPED not in fate.notes:
            fate.notes.append(CLAMPED)

    def _answer(self, record: Mapping[str, Any], moment: datetime, message: str) -> None:
        status = record.get("status")
        webhook_id = record.get("webhook_id")
        if message == REJECTED:
            reason = f"{record.get('kind') or 'unauthorized'}: {record.get('reason') or ''}".rstrip(": ")
        else:
            reason = str(record.get("error") or "")
        request = _request_id(record)
        unit_ids, emergencies = texts(record.get("units")), accepted_names(record)
        delivery = Delivery(
            received_at=iso(moment),
            source=str(record.get("source") or "-"),
            status=status_code(status),
            webhook_id=str(webhook_id) if webhook_id else None,
            answer=ANSWERS[message],
            reason=reason,
            changes=count(record.get("changes")),
            units=unit_ids + emergencies,
            notes=self.pending_notes.pop(request, []),
            request_id=request,
            label=str(record.get("label") or ""),
        )
        if delivery.answer == "accepted":
            # Units keyed as the consumer compares ids (the webhook's `adam-12` is the partner's
            # `ADAM-12`); calls and panics by their names (`call KEY`, `panic UNIT`).
            delivery.fates = {canonical_id(unit): UnitFate(unit, "queued") for unit in unit_ids}
            delivery.fates |= {
                name: UnitFate(name, "queued", kind=name.split(" ", 1)[0]) for name in emergencies
            }
            if delivery.webhook_id:
                self.by_webhook[delivery.webhook_id] = delivery
        self.deliveries.append(delivery)
        if request:
            self.by_request[request] = delivery

    def _unit_outcome(self, record: Mapping[str, Any], moment: datetime) -> None:
        unit = str(record.get("unit_id") or "")
        sources = texts(record.get("sources"))
        webhook_ids = texts(record.get("webhook_ids"))
        if webhook_ids:
            targets = [self.by_webhook.get(w) or self._unseen(w, sources, moment) for w in webhook_ids]
        else:
            targets = self._without_id(unit, sources, moment, _request_id(record))
        for delivery in targets:
            # Keyed as the consumer compares ids: the webhook's `adam-12` is the partner's `ADAM-12`.
            fate = delivery.fates.setdefault(canonical_id(unit), UnitFate(unit, "queued"))
            fate.unit_id = unit
            spelt = [u for u in delivery.units if canonical_id(u) != canonical_id(unit)]
            delivery.units = [*spelt, unit] if len(spelt) == len(delivery.units) else delivery.units
            apply(fate, record, moment)

    def _emergency_outcome(self, row: Mapping[str, Any], moment: datetime) -> None:
        name, outcome, why, written = fate_of(row)
        source = str(row.get("source") or "-")
        for webhook_id in texts(row.get("webhook_ids")):
            delivery = self.by_webhook.get(webhook_id) or self._unseen(webhook_id, [source], moment)
            fate = delivery.fates.setdefault(name, UnitFate(name, "queued", kind=name.split(" ", 1)[0]))
            if name not in delivery.units:
                delivery.units.append(name)
            fate.attempts += 1
            fate.at, fate.outcome, fate.why, fate.written = iso(moment), outcome, why, written

    def _unseen(self, webhook_id: str, sources: list[str], moment: datetime) -> Delivery:
        """Changes whose ingress line was not read: a roster poll's (it has no ingress), or a webhook
        answered before the lines read begin."""
        answer = "polled" if webhook_id.startswith(ROSTER_ID_PREFIX) else "unseen"
        delivery = Delivery(iso(moment), ",".join(sources) or "-", None, webhook_id, answer)
        self.by_webhook[webhook_id] = delivery
        self.deliveries.append(delivery)
        return delivery

    def _without_id(self, unit: str, sources: list[str], moment: datetime, request: str) -> list[Delivery]:
        """Changes no webhook id names: the latest accepted delivery of that source and unit that
        carried no id, or else a roster poll (the scheduled task's changes): one entry per source and
        consumer invocation."""
        for delivery in reversed(self.deliveries):
            if (
                delivery.answer == "accepted"
                and not delivery.webhook_id
                and delivery.source in sources
                and unit in delivery.units
            ):
                return [delivery]
        found = []
        for source in sources:
            key = (source, request or iso(moment))
            if key not in self.polls:
                self.polls[key] = Delivery(iso(moment), source, None, None, "polled")
                self.deliveries.append(self.polls[key])
            found.append(self.polls[key])
        return found


def _request_id(record: Mapping[str, Any]) -> str:
    return str(record.get("function_request_id") or record.get("correlation_id") or "")


@dataclass
class Trail:
    deliveries: list[Delivery]
    unreadable: int = 0  # known lines skipped: a key in a shape the relay never writes, a time out of range


# What an odd line can raise while it is read (a bug elsewhere still surfaces).
ODD = (OddLineError, ValueError, TypeError, AttributeError, OverflowError, OSError, RecursionError)


def read_trail(
    records: Iterable[Mapping[str, Any]], *, source: str | None = None, limit: int | None = None
) -> Trail:
    """Deliveries from log records (any order), newest first; `source` keeps one source's. A line the
    reader cannot read is skipped and counted."""
    unreadable = 0
    timed = []
    for index, record in enumerate(records):
        try:
            timed.append((record_time(record), index, record))
        except ODD:
            unreadable += 1
    timed.sort(key=lambda t: (t[0], t[1]))
    builder = _Builder()
    for moment, _, record in timed:
        try:
            builder.add(record, moment)
        except ODD:
            unreadable += 1
    found = [d for d in builder.deliveries if source is None or d.source == source]
    for delivery in found:
        conclude(delivery)
    found.reverse()
    return Trail(found[:limit] if limit is not None else found, unreadable)


def build_deliveries(
    records: Iterable[Mapping[str, Any]], *, source: str | None = None, limit: int | None = None
) -> list[Delivery]:
    """read_trail's deliveries."""
    return read_trail(records, source=source, limit=limit).deliveries


def render_lines(deliveries: Iterable[Delivery]) -> list[str]:
    """Deliveries as text, one block each: what `relay deliveries` prints."""
    lines = []
    for d in deliveries:
        status = str(d.status) if d.status is not None else "-"
        # Senders' text (a webhook id, a unit id, a reason): its control characters written out.
        lines.append(printable(f"{d.received_at}  {d.source}  {status}  {d.webhook_id or '-'}  {d.outcome}"))
        if d.label:
            lines.append(printable(f"    {d.label}"))
        if d.why:
            lines.append(f"    {printable(d.why)}")
    return lines
