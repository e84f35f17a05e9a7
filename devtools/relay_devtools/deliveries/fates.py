"""What became of a delivery: each unit's, call's and panic's fate as the consumer's latest line says
(`apply`), and the delivery's overall outcome with a sentence saying why (`conclude`). trail.py reads
the lines; these are its rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from relay_devtools.deliveries.lines import pairs


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# What a delivery came to, worst first: the overall outcome is the first one any of its units has.
OUTCOME_ORDER = ("dead-lettered", "refused", "retrying", "queued", "written", "skipped")
SKIPPED_WHY = {
    "superseded": "another writer's newer value is at the partner",
    "kept": "not newer than what the unit holds (an older event time, or the same change again)",
    "landed": "already at the partner (an earlier attempt landed)",
    "unchanged": "the partner already holds it",
}


@dataclass
class UnitFate:
    """What became of one unit of a delivery downstream, as the consumer's latest line says."""

    unit_id: str
    outcome: str  # queued | written | skipped | refused | retrying | dead-lettered
    why: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    written: dict[str, str] = field(default_factory=dict)  # the values the PUT changed
    at: str = ""
    attempts: int = 0
    notes: list[str] = field(default_factory=list)
    kind: str = "unit"  # unit | call | panic


@dataclass
class Delivery:
    received_at: str
    source: str
    status: int | None  # the HTTP status answered; None for changes no webhook brought (roster polls)
    webhook_id: str | None
    # accepted | replayed | refused | rejected | not queued; polled (a roster poll's changes) or unseen
    # (changes whose ingress line was not among those read)
    answer: str
    reason: str = ""  # why it was refused (the log-only reason of a 401 included)
    changes: int = 0
    units: list[str] = field(default_factory=list)  # and `call KEY` / `panic UNIT` for calls and panics
    notes: list[str] = field(default_factory=list)  # the request's other lines (why a change was skipped)
    fates: dict[str, UnitFate] = field(default_factory=dict)  # by the id as the consumer compares it
    dead_letters: list[dict[str, str]] = field(default_factory=list)
    outcome: str = ""
    why: str = ""
    request_id: str = ""
    # What the adapter called the delivery (`main: Lindqvist_30 ;10-6 -> 1A-07`), if it named it.
    label: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["fates"] = [asdict(fate) for fate in self.fates.values()]
        return data


def apply(fate: UnitFate, record: Mapping[str, Any], moment: datetime) -> None:
    result = str(record.get("outcome") or "")
    fields = pairs(record.get("fields"))
    fate.attempts += 1
    fate.at = iso(moment)
    fate.fields = fields
    fate.written = pairs(record.get("written"))
    detail = str(record.get("detail") or "")
    if result == "written":
        fate.outcome, fate.why = "written", detail
    elif result == "superseded":
        fate.outcome, fate.why = "skipped", _with_reasons(SKIPPED_WHY["superseded"], detail)
    elif result == "unchanged":
        # "kept": the change is not newer than the unit's baseline. After an attempt that may have
        # written it, the baseline is most likely this very change; otherwise it is an older one.
        if "kept" not in fields.values():
            why = SKIPPED_WHY["unchanged"]
        elif fate.attempts > 1 and fate.outcome == "retrying":
            why = SKIPPED_WHY["landed"]
        else:
            why = SKIPPED_WHY["kept"]
        fate.outcome, fate.why = "skipped", _with_reasons(why, detail)
    elif result == "refused":
        fate.outcome, fate.why = "refused", f"refused by the partner: {detail}"
    else:  # given back: the message comes back and is tried again
        fate.outcome, fate.why = "retrying", detail or result
    if record.get("recheck"):
        fate.why += (", " if fate.why else "") + "checked again after the late-write window"


def _with_reasons(why: str, detail: str) -> str:
    """The skip's sentence, then the consumer's reasons after its own first one (which field another
    source wins: `officer_name: cad's value wins this field`)."""
    reasons = [part for part in detail.split("; ")[1:] if part]
    return "; ".join([why, *reasons])


def conclude(delivery: Delivery) -> None:
    """The delivery's overall outcome and a sentence saying why."""
    if delivery.answer not in ("accepted", "polled", "unseen"):
        delivery.outcome = delivery.answer
        delivery.why = delivery.reason or ("already queued" if delivery.answer == "replayed" else "")
        return
    letters = "; ".join(sorted({letter["reason"] for letter in delivery.dead_letters}))
    last_letter = max((letter.get("at", "") for letter in delivery.dead_letters), default="")
    if delivery.dead_letters and not any(fate.at > last_letter for fate in delivery.fates.values()):
        delivery.outcome = "dead-lettered"
        delivery.why = letters
        return
    if delivery.answer == "accepted" and delivery.changes == 0 and not delivery.fates:
        # (A delivery whose change was held, an ER:LC command for a player not on the roster yet,
        # gets its fate later, from the poll that sent it in the delivery's name.)
        delivery.outcome = "skipped"
        delivery.why = "; ".join(delivery.notes) or "the payload holds no unit change, call or panic"
        return
    fates = list(delivery.fates.values())
    outcomes = {fate.outcome for fate in fates}
    delivery.outcome = next((o for o in OUTCOME_ORDER if o in outcomes), "queued")
    parts = []
    for fate in fates:
        text = f"{fate.unit_id}: {fate.outcome}"
        if fate.outcome == "written" and fate.kind != "unit":
            text += f" ({fate.why})"
        elif fate.outcome == "written" and fate.written:
            text += " " + ", ".join(f"{k}={v!r}" for k, v in sorted(fate.written.items()))
        if fate.why and fate.outcome != "written":
            text += f" ({fate.why})"
        if fate.notes:
            text += " [" + "; ".join(fate.notes) + "]"
        parts.append(text)
    if delivery.dead_letters:  # redriven since: the latest outcome leads, the dead letter is history
        parts.append(f"earlier dead-lettered ({letters}), then redriven")
    delivery.why = "; ".join(parts)
