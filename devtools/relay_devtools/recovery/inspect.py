"""`relay inspect WEBHOOK_ID`: what a webhook sent (when its source keeps bodies), what it became (its
queue messages, from the archive) and what was written and why (the delivery trail: relay local's feed,
or a stack's CloudWatch Logs). Each part says where it came from and what is missing."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from relay.messages import QueueMessage
from relay.ports.archive import ArchivedDelivery
from relay_devtools.deliveries.cloudwatch import read_records
from relay_devtools.deliveries.feed import fetch_feed
from relay_devtools.deliveries.trail import read_trail
from relay_devtools.options import printable
from relay_devtools.recovery.target import Target

# A body is shown up to this many characters (the rest counted).
MAX_SHOWN_BODY = 4000
# How long after a delivery its trail is read in CloudWatch (retries reach the DLQ in about 37 minutes).
TRAIL_AFTER = timedelta(hours=2)


@dataclass
class Inspection:
    webhook_id: str
    records: list[ArchivedDelivery] = field(default_factory=list)
    trail: list[dict[str, Any]] = field(default_factory=list)  # the trail's deliveries of that id
    trail_error: str | None = None


def trail_of(target: Target, webhook_id: str, records: list[ArchivedDelivery]) -> list[dict[str, Any]]:
    """The trail's deliveries named `webhook_id`: relay local's feed, or the stack's logs around the
    archived receive times (the last two hours without one)."""
    if target.feed_url is not None:
        return [d for d in fetch_feed(target.feed_url) if d.get("webhook_id") == webhook_id]
    if target.logs is None or target.log_groups is None:
        return []
    now_ms = int(time.time() * 1000)
    starts = [int((r.received_at - timedelta(minutes=1)).timestamp() * 1000) for r in records]
    start = min(starts) if starts else now_ms - int(TRAIL_AFTER.total_seconds() * 1000)
    end = (
        min(now_ms, max(starts) + int((TRAIL_AFTER + timedelta(minutes=1)).total_seconds() * 1000))
        if starts
        else now_ms
    )
    groups = [target.log_groups["ingress"], target.log_groups["consumer"]]
    found = read_trail(read_records(target.logs, groups, start, end)).deliveries
    return [d.as_dict() for d in found if d.webhook_id == webhook_id]


def inspect(target: Target, webhook_id: str) -> Inspection:
    found = Inspection(webhook_id, records=target.archive().find(webhook_id))
    try:
        found.trail = trail_of(target, webhook_id, found.records)
    except Exception as exc:  # noqa: BLE001 - the archive's part stands on its own
        found.trail_error = f"{type(exc).__name__}: {exc}"
    return found


def _body_lines(record: ArchivedDelivery, keeps: bool) -> list[str]:
    if record.body is None:
        why = "too large for the archive" if keeps else f"sources.{record.source}.archive_body is off"
        return [f"  sent: not kept ({why})"]
    text = record.body.decode("utf-8", errors="replace")
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    cut = f"\n  … {len(text) - MAX_SHOWN_BODY} more characters" if len(text) > MAX_SHOWN_BODY else ""
    lines = ["  sent (its secrets removed):"] + ["    " + line for line in text[:MAX_SHOWN_BODY].splitlines()]
    if record.headers:
        lines.append("    headers: " + ", ".join(f"{k}: {v}" for k, v in sorted(record.headers.items())))
    return lines + ([cut.strip("\n")] if cut else [])


def message_lines(record: ArchivedDelivery) -> list[str]:
    if record.outcome == "refused":
        return ["  became: nothing (refused); `relay replay` takes it once it verifies with the source's key"]
    lines = [f"  became: {len(record.messages)} message(s)"]
    for body in record.messages:
        try:
            message = QueueMessage.model_validate_json(body)
        except ValueError:
            lines.append("    (a message this version cannot read)")
            continue
        where = f"{message.source} -> MDT {message.mdt_id}" + (
            f" (at offset {message.offset})" if message.offset else ""
        )
        lines.append(f"    {where}")
        for change in message.changes:
            fields = ", ".join(f"{n}={v!r}" for n, v in change.fields.items()) or "(no field)"
            lines.append(f"      {change.id}  at {change.at.isoformat()}  {fields}")
        for call in message.calls:
            fields = ", ".join(f"{n}={v!r}" for n, v in call.fields.items()) or "(no field)"
            closes = " (may not create it)" if not call.opens else ""
            lines.append(f"      call {call.key}  at {call.at.isoformat()}  {fields}{closes}")
        for panic in message.panics:
            address = f"  address={panic.address!r}" if panic.address is not None else ""
            lines.append(f"      panic {panic.unit}  at {panic.at.isoformat()}{address}")
    return lines


def _trail_lines(deliveries: Iterable[dict[str, Any]]) -> list[str]:
    lines = []
    for delivery in deliveries:
        lines.append(
            f"  answered {delivery.get('status')} {delivery.get('answer')}: {delivery.get('outcome')}"
        )
        if delivery.get("reason"):
            lines.append(f"    reason: {delivery['reason']}")
        for fate in delivery.get("fates") or []:
            written = ", ".join(f"{n}={v!r}" for n, v in (fate.get("written") or {}).items())
            why = f" ({fate['why']})" if fate.get("why") else ""
            lines.append(
                f"    {fate.get('unit_id')}: {fate.get('outcome')}{why}" + (f" {written}" if written else "")
            )
        for note in delivery.get("notes") or []:
            lines.append(f"    note: {note}")
    return lines


def render(found: Inspection, target: Target) -> list[str]:
    """The inspection as text, senders' text with control characters written out."""
    lines = [f"relay inspect {found.webhook_id} ({target.name})"]
    if not found.records:
        days = target.config.archive.days
        lines.append(
            f"  archive: nothing under this id (kept {days} days; a refused delivery by request:<id>)"
        )
    for record in found.records:
        keeps = target.config.sources.get(record.source) is not None and bool(
            target.config.sources[record.source].archive_body
        )
        lines.append(
            f"{record.received_at.isoformat()}  {record.source}  {record.outcome}  {record.lookup_id}"
        )
        if record.label:
            lines.append(f"  label: {record.label}")
        if record.reason:
            lines.append(f"  refused: {record.reason}")
        lines += _body_lines(record, keeps)
        lines += message_lines(record)
    lines.append("  written (the delivery trail):")
    if found.trail_error:
        lines.append(f"    not read: {found.trail_error}")
    elif not found.trail:
        lines.append("    no line names it (logs kept LogRetentionDays; relay local's feed its last 300)")
    lines += _trail_lines(found.trail)
    return [printable(line) for line in lines]
