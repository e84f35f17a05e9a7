"""One SNS record of the alarm topic as the body of Discord's Execute Webhook call. Pure: no I/O.

A CloudWatch alarm notification (the record's `Message` is CloudWatch's JSON: `AlarmName`,
`NewStateValue`, `NewStateReason`, `Trigger`, ...) becomes one embed coloured by its new state; anything
else published to the topic becomes a plain embed with its subject and text. Every text is cut to
Discord's limits, and mentions are switched off: an alarm's text never pings anyone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

# Discord's limits: message content, and per embed (all embeds of a message together: EMBED_TOTAL).
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
MAX_FIELDS = 25
EMBED_TOTAL_LIMIT = 6000
ELLIPSIS = "…"
# arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME
ARN_PARTS = 7

USERNAME = "northca-relay"
COLOURS = {"ALARM": 0xED4245, "OK": 0x57F287, "INSUFFICIENT_DATA": 0xFEE75C}
NEUTRAL = 0x95A5A6
COMPARISONS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


@dataclass(frozen=True)
class Alarm:
    """The parts of CloudWatch's alarm notification a reader needs."""

    name: str
    new_state: str
    reason: str
    old_state: str | None = None
    description: str | None = None
    changed_at: datetime | None = None
    region: str | None = None  # CloudWatch's display name, e.g. "EU (Ireland)"
    arn: str | None = None
    metric: str | None = None
    threshold: str | None = None


def truncate(text: str, limit: int) -> str:
    """`text` within `limit` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _instant(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _metric(trigger: Mapping[str, Any]) -> str | None:
    """`Namespace MetricName (dimension=value, ...)`, or the expression of a metric-math alarm."""
    name = _text(trigger.get("MetricName"))
    if name:
        dimensions = ", ".join(
            f"{d.get('name')}={d.get('value')}"
            for d in trigger.get("Dimensions") or []
            if isinstance(d, Mapping)
        )
        text = " ".join(part for part in (_text(trigger.get("Namespace")), name) if part)
        return f"{text} ({dimensions})" if dimensions else text
    for query in trigger.get("Metrics") or []:
        if isinstance(query, Mapping) and query.get("ReturnData", True) is not False:
            return _text(query.get("Label")) or _text(query.get("Expression"))
    return None


def _threshold(trigger: Mapping[str, Any]) -> str | None:
    operator = trigger.get("ComparisonOperator")
    threshold = trigger.get("Threshold")
    if not isinstance(threshold, int | float) or isinstance(threshold, bool):
        return None
    symbol = COMPARISONS.get(operator, str(operator)) if isinstance(operator, str) else "vs"
    statistic = _text(trigger.get("Statistic")) or _text(trigger.get("ExtendedStatistic"))
    period = trigger.get("Period")
    over = f" ({statistic.lower()} over {period} s)" if statistic and isinstance(period, int) else ""
    return f"{symbol} {threshold:g}{over}"


def parse_alarm(message: str) -> Alarm | None:
    """CloudWatch's alarm notification, or None for any other message."""
    try:
        data = json.loads(message)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, Mapping):
        return None
    name, state = _text(data.get("AlarmName")), _text(data.get("NewStateValue"))
    if name is None or state is None:
        return None
    trigger = data.get("Trigger")
    trigger = trigger if isinstance(trigger, Mapping) else {}
    return Alarm(
        name=name,
        new_state=state,
        reason=_text(data.get("NewStateReason")) or "",
        old_state=_text(data.get("OldStateValue")),
        description=_text(data.get("AlarmDescription")),
        changed_at=_instant(data.get("StateChangeTime")),
        region=_text(data.get("Region")),
        arn=_text(data.get("AlarmArn")),
        metric=_metric(trigger),
        threshold=_threshold(trigger),
    )


def console_url(arn: str | None, name: str) -> str | None:
    """The alarm's page in the CloudWatch console (commercial partition), from its ARN."""
    parts = (arn or "").split(":")
    if len(parts) < ARN_PARTS or parts[:3] != ["arn", "aws", "cloudwatch"] or not parts[3]:
        return None
    region = parts[3]
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#alarmsV2:alarm/{quote(name, safe='')}"
    )


def _field(name: str, value: str, *, inline: bool = True) -> dict[str, Any]:
    return {
        "name": truncate(name, FIELD_NAME_LIMIT),
        "value": truncate(value, FIELD_VALUE_LIMIT),
        "inline": inline,
    }


def embed_length(embed: Mapping[str, Any]) -> int:
    """The characters Discord counts towards EMBED_TOTAL_LIMIT."""
    fields = embed.get("fields") or []
    return (
        len(embed.get("title") or "")
        + len(embed.get("description") or "")
        + sum(len(f["name"]) + len(f["value"]) for f in fields)
        + len((embed.get("footer") or {}).get("text") or "")
        + len((embed.get("author") or {}).get("name") or "")
    )


def _fit(embed: dict[str, Any]) -> dict[str, Any]:
    """Shorten the description (the longest text) until the whole embed is within Discord's total."""
    excess = embed_length(embed) - EMBED_TOTAL_LIMIT
    if excess > 0 and embed.get("description"):
        description = embed["description"]
        embed["description"] = truncate(description, max(len(description) - excess, len(ELLIPSIS)))
    return embed


def alarm_embed(alarm: Alarm) -> dict[str, Any]:
    title = f"{alarm.new_state}: {alarm.name}"
    description = "\n\n".join(part for part in (alarm.description, alarm.reason) if part)
    fields = [
        _field("State", f"{alarm.old_state} → {alarm.new_state}" if alarm.old_state else alarm.new_state)
    ]
    if alarm.metric:
        fields.append(_field("Metric", alarm.metric, inline=False))
    if alarm.threshold:
        fields.append(_field("Threshold", alarm.threshold))
    if alarm.region:
        fields.append(_field("Region", alarm.region))
    embed: dict[str, Any] = {
        "title": truncate(title, TITLE_LIMIT),
        "description": truncate(description or "(no reason given)", DESCRIPTION_LIMIT),
        "color": COLOURS.get(alarm.new_state, NEUTRAL),
        "fields": fields[:MAX_FIELDS],
    }
    if url := console_url(alarm.arn, alarm.name):
        embed["url"] = url
    if alarm.changed_at is not None:
        embed["timestamp"] = alarm.changed_at.isoformat()
    return _fit(embed)


def notice_embed(subject: str | None, message: str, timestamp: datetime | None) -> dict[str, Any]:
    embed: dict[str, Any] = {
        "title": truncate(subject or "Notification from the alarm topic", TITLE_LIMIT),
        "description": truncate(message or "(empty message)", DESCRIPTION_LIMIT),
        "color": NEUTRAL,
    }
    if timestamp is not None:
        embed["timestamp"] = timestamp.isoformat()
    return _fit(embed)


def discord_message(record: Mapping[str, Any]) -> dict[str, Any]:
    """The Execute Webhook body for one record of an SNS event (`record["Sns"]`)."""
    sns = record.get("Sns")
    sns = sns if isinstance(sns, Mapping) else {}
    raw = sns.get("Message")
    message = raw if isinstance(raw, str) else ""
    alarm = parse_alarm(message)
    if alarm is not None:
        embed = alarm_embed(alarm)
        content = f"**{alarm.new_state}**: {alarm.name}"
    else:
        subject = _text(sns.get("Subject"))
        embed = notice_embed(subject, message, _instant(sns.get("Timestamp")))
        content = subject or "Notification from the alarm topic"
    return {
        "username": USERNAME,
        "content": truncate(content, CONTENT_LIMIT),
        "embeds": [embed],
        # No @everyone, role or user mention in an alarm's text may ping anyone.
        "allowed_mentions": {"parse": []},
    }


def summary(payload: Mapping[str, Any]) -> str:
    """A payload's one line (its content), for the logs."""
    return str(payload.get("content") or "")
