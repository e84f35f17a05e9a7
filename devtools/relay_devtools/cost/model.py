"""The monthly bill: counted AWS calls (counted.json) x how often they happen (a `Usage`) x the price
table (prices.py), plus what the stack holds by the month (secrets, alarms, the dashboard, a key), read
from template.yaml rendered for the stack's settings.

What is not counted is assumed, and named here (docs/cost.md repeats it):
- durations: Lambda's billed milliseconds cannot be measured on this machine; ASSUMED_MS are typical of
  such functions (AWS calls of ~10-30 ms in-region, a partner call of ~100-150 ms);
- a cold start (INIT, billed since August 2025) at most every 15 minutes of traffic per function, and
  secrets refetched at most every hour (Powertools' cache, relay.aws.secrets) per function;
- Lambda's own polling of the queue: AWS documents that it long-polls, not how often when idle;
- Lambda's platform lines (start, report) and the per-event overhead of CloudWatch Logs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay.aws.secrets import DEFAULT_MAX_AGE_SECONDS
from relay_devtools.cost.prices import FREE_DASHBOARD_METRICS, PRICES
from relay_devtools.files.cfnrender import Renderer, Stack
from relay_devtools.files.template import load_template

HOURS = 730.0  # a month, as AWS bills it
DAYS = HOURS / 24
ASSUMED_MS = {"ingress": 60.0, "consumer": 300.0, "scheduled": 500.0, "init": 1200.0}
COLD_START_EVERY_HOURS = 0.25
# How long a function keeps a secret (relay.aws.secrets): read from the code, not typed here.
SECRET_CACHE_HOURS = DEFAULT_MAX_AGE_SECONDS / 3600
LAMBDA_POLLERS, POLLS_PER_MINUTE = 5, 3  # 5 pollers, each a 20 s long poll, while the queue is idle
PLATFORM_BYTES, PLATFORM_COLD_BYTES, EVENT_OVERHEAD = 600, 400, 26
ACCESS_LOG_VALUES = {  # a typical access log line's values, to size the template's format
    "requestId": "dX6B9hRHjoEEMYA=",
    "ip": "203.0.113.7",
    "requestTime": "28/Nov/2026:12:00:01 +0000",
    "routeKey": "POST /hooks/{source}",
    "status": "202",
    "protocol": "HTTP/1.1",
    "responseLength": "120",
    "integrationStatus": "200",
    "integrationLatency": "58",
    "integrationError": "-",
}
GB = 1024**3
# A community of one 40-player ER:LC server and three sources: PRC's Event Webhook (players' `;10-8`),
# Sonoran CAD (dispatchers' status changes, and logins) and a Typeform (joining a department).
TYPICAL_MIX = {"erlc-events": 0.46, "sonoran-status": 0.46, "sonoran-login": 0.04, "typeform": 0.04}


@dataclass(frozen=True)
class Usage:
    webhooks_per_day: float = 1300
    mix: Mapping[str, float] = field(default_factory=lambda: dict(TYPICAL_MIX))
    erlc_servers: int = 1
    changed_polls_per_day: float = 200  # per server: players joining, leaving, changing team
    secrets: int = 5  # the partner key, each source's, each ER:LC server's (from the config)
    active_hours_per_day: float = 16  # hours with at least one webhook: custom metrics bill per hour
    alarm_email: bool = True
    discord: bool = False
    detailed_monitoring: bool = False
    alarm_topic_key: bool = False
    dashboard_opens_per_day: float = 2
    log_retention_days: int = 30
    apply_free_tier: bool = True
    # What-ifs for changes in functions/relay (None: as the code does today, counted or named above).
    secret_cache_minutes: float | None = None  # what if: else relay.aws.secrets' own cache (an hour)
    unit_state_kb: float | None = None  # the consumer writes a unit's state item twice per change


@dataclass(frozen=True)
class Line:
    service: str
    what: str
    quantity: float
    unit: str
    usd: float


@dataclass
class Bill:
    lines: list[Line]

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def by_service(self) -> dict[str, float]:
        services: dict[str, float] = {}
        for line in self.lines:
            services[line.service] = services.get(line.service, 0.0) + line.usd
        return services


def step_counts(counted: Mapping[str, Any], name: str, function: str) -> dict[str, Any]:
    step: dict[str, Any] = counted["steps"][name].get(function, {})
    return step


def price(key: str, quantity: float, free: bool) -> float:
    price = PRICES[key]
    return price.cost(quantity) if free else quantity / price.per * price.usd


@dataclass(frozen=True)
class TemplateFacts:
    memory_gb: float
    alarm_metrics: int
    dashboard_metrics: int
    access_log_bytes: int


def template_facts(template_path: Path, usage: Usage) -> TemplateFacts:
    """What the stack holds by the month, from the template rendered for `usage`'s settings (a setting
    the template does not have is left out: an older template can be priced too)."""
    template = load_template(template_path)
    wanted = {
        "DetailedMonitoring": "true" if usage.detailed_monitoring else "false",
        "AlarmTopicCustomerKey": "true" if usage.alarm_topic_key else "false",
    }
    if usage.alarm_email:
        wanted["AlarmEmail"] = "ops@example.org"
    if usage.discord:
        wanted["DiscordWebhookSecretName"] = "relay/alerts/discord"
    parameters = {key: value for key, value in wanted.items() if key in template["Parameters"]}
    stack = Renderer(template, Stack(parameters=parameters))
    alarms = 0
    for alarm in stack.resources("AWS::CloudWatch::Alarm").values():
        queries = alarm["Properties"].get("Metrics")
        alarms += sum("MetricStat" in q for q in queries) if queries else 1
    [dashboard] = stack.resources("AWS::CloudWatch::Dashboard").values()
    widgets = json.loads(dashboard["Properties"]["DashboardBody"])["widgets"]
    metrics = sum(len(w["properties"].get("metrics", [])) for w in widgets)
    access = stack.resources("AWS::Serverless::HttpApi")["WebhookApi"]["Properties"]["AccessLogSettings"]
    line = str(access["Format"])
    for key, value in ACCESS_LOG_VALUES.items():
        line = line.replace(f'"$context.{_context_name(key)}"', json.dumps(value))
    memory = int(template["Globals"]["Function"]["MemorySize"])
    return TemplateFacts(memory / 1024, alarms, metrics, len(line.encode()))


def _context_name(key: str) -> str:
    return {
        "ip": "identity.sourceIp",
        "integrationError": "integrationErrorMessage",
    }.get(key, key)


class Month:
    """One month of a Usage, from the counts."""

    def __init__(self, counted: Mapping[str, Any], usage: Usage, facts: TemplateFacts) -> None:
        self.counted, self.usage, self.facts = counted, usage, facts
        self.webhooks = {kind: usage.webhooks_per_day * DAYS * share for kind, share in usage.mix.items()}
        self.active_hours = usage.active_hours_per_day * DAYS
        self.ticks = usage.erlc_servers * HOURS * 60  # RosterPollState DISABLED without a server
        self.changed = min(self.ticks, usage.erlc_servers * usage.changed_polls_per_day * DAYS)

    # what each function does, summed over the month

    def _sum(self, key: str, *, warm: bool = True) -> dict[str, float]:
        """`key` of every function over the month; counted on a fresh start, less what a warm one saves
        (for log bytes: the cold start's extra lines, counted on the `units` webhook made twice)."""
        totals = {"ingress": 0.0, "consumer": 0.0, "scheduled": 0.0}
        saved = {
            function: float(step_counts(self.counted, "webhook:units", function).get(key, 0))
            - float(step_counts(self.counted, "webhook:units:warm", function).get(key, 0))
            for function in ("ingress", "consumer")
        }
        for kind, count in self.webhooks.items():
            for function in ("ingress", "consumer"):
                value = float(step_counts(self.counted, f"webhook:{kind}", function).get(key, 0))
                if (function, key) == ("consumer", "write_units"):
                    # A unit's state item grows with its changes: a community's units change all
                    # evening, so each write is priced at the item's steady size.
                    steady = step_counts(self.counted, "webhook:units:steady", function)
                    value = max(value, float(steady[key]))
                    if self.usage.unit_state_kb is not None:
                        value = steady["calls"]["dynamodb:UpdateItem"] * math.ceil(self.usage.unit_state_kb)
                totals[function] += count * (value - (saved[function] if warm and key == "log_bytes" else 0))
        for name, ticks in (("poll_changed", self.changed), ("poll_unchanged", self.ticks - self.changed)):
            totals["scheduled"] += ticks * float(step_counts(self.counted, name, "scheduled").get(key, 0))
        totals["consumer"] += self.changed * float(
            step_counts(self.counted, "poll_changed", "consumer").get(key, 0)
        )
        return totals

    def invocations(self) -> dict[str, float]:
        return self._sum("invocations")

    def cold_starts(self) -> dict[str, float]:
        most = self.active_hours / COLD_START_EVERY_HOURS
        starts = {f: min(n, most) for f, n in self.invocations().items() if f != "scheduled"}
        # The poller runs every minute when there is a server: its environment stays warm.
        starts["scheduled"] = min(self.ticks, HOURS / COLD_START_EVERY_HOURS) if self.ticks else 0.0
        return starts

    def secret_fetches(self) -> float:
        """Each function fetches each secret it uses at most once per cache lifetime of traffic: the
        ingress one per source (Sonoran's login and status share one), the consumer the partner key,
        the poller its server key."""
        from relay_devtools.cost.counting import SAMPLES

        cache_hours = SECRET_CACHE_HOURS
        if self.usage.secret_cache_minutes is not None:
            cache_hours = self.usage.secret_cache_minutes / 60
        refresh = self.active_hours / cache_hours
        by_source: dict[str, float] = {}
        for kind, count in self.webhooks.items():
            source = SAMPLES[kind][0]
            by_source[source] = by_source.get(source, 0.0) + count
        fetches = sum(min(count, refresh) for count in by_source.values())
        fetches += min(self.invocations()["consumer"], refresh)
        fetches += (
            self.usage.erlc_servers * min(HOURS * 60, HOURS / SECRET_CACHE_HOURS) if self.ticks else 0.0
        )
        return fetches

    def log_gb(self) -> float:
        invocations, colds = self.invocations(), self.cold_starts()
        relay = sum(self._sum("log_bytes").values())
        lines = sum(self._sum("log_lines").values())
        emf = sum(self._sum("emf_bytes").values()) if self.usage.detailed_monitoring else 0.0
        platform = sum(invocations.values()) * PLATFORM_BYTES + sum(colds.values()) * PLATFORM_COLD_BYTES
        access = sum(self.webhooks.values()) * self.facts.access_log_bytes
        events = lines + sum(invocations.values()) * 2 + sum(self.webhooks.values())
        return (relay + emf + platform + access + events * EVENT_OVERHEAD) / GB

    def metric_months(self) -> float:
        """Custom metrics (DetailedMonitoring): each name, by the hours it gets data."""
        names: dict[str, float] = {}
        for function in ("ingress", "consumer"):
            for step in self.counted["steps"]:
                if step.startswith("webhook:"):
                    for name in step_counts(self.counted, step, function).get("metrics", []):
                        names[name] = self.active_hours
        if self.ticks:
            for step in ("poll_changed", "poll_unchanged"):
                for name in step_counts(self.counted, step, "scheduled").get("metrics", []):
                    names[name] = (
                        HOURS
                        if step == "poll_unchanged" or name.startswith("RosterChanges")
                        else self.active_hours
                    )
        return sum(names.values()) / HOURS


def monthly_bill(counted: Mapping[str, Any], usage: Usage, facts: TemplateFacts) -> Bill:
    month = Month(counted, usage, facts)
    free = usage.apply_free_tier
    invocations, colds = month.invocations(), month.cold_starts()
    webhooks = sum(month.webhooks.values())
    lines: list[Line] = []

    def add(service: str, what: str, key: str, quantity: float) -> None:
        lines.append(Line(service, what, quantity, PRICES[key].unit, price(key, quantity, free)))

    add("API Gateway", "HTTP API requests", "api_requests", webhooks)
    add("Lambda", "requests", "lambda_requests", sum(invocations.values()))
    seconds = (
        sum(invocations[f] * ASSUMED_MS[f] for f in invocations) + sum(colds.values()) * ASSUMED_MS["init"]
    )
    add(
        "Lambda",
        f"GB-seconds at {facts.memory_gb * 1024:.0f} MB (durations assumed)",
        "lambda_gb_seconds",
        seconds / 1000 * facts.memory_gb,
    )
    sends = sum(month._sum("sqs_requests").values())
    batches = invocations["consumer"]
    idle = LAMBDA_POLLERS * POLLS_PER_MINUTE * HOURS * 60
    add(
        "SQS",
        "requests: sends, Lambda's receives and deletes, its idle polling (assumed)",
        "sqs_requests",
        sends + 2 * batches + idle,
    )
    add("DynamoDB", "write request units", "dynamodb_write_units", sum(month._sum("write_units").values()))
    add("DynamoDB", "read request units", "dynamodb_read_units", sum(month._sum("read_units").values()))
    table_gb = counted["largest_item_bytes"] * 2000 / GB  # a few thousand items at most: units, rosters
    add("DynamoDB", "point-in-time recovery of the state table", "dynamodb_pitr", table_gb)
    add("Secrets Manager", "secrets", "secrets", usage.secrets)
    fetches = month.secret_fetches()
    add("Secrets Manager", "GetSecretValue calls", "secrets_api", fetches)
    add("KMS", "requests (Secrets Manager decrypting with aws/secretsmanager)", "kms_requests", fetches)
    if usage.alarm_topic_key:
        add("KMS", "the alarm topic's own key", "kms_keys", 1)
    log_gb = month.log_gb()
    stored = log_gb * min(usage.log_retention_days, 3650) / DAYS
    scanned = usage.dashboard_opens_per_day * DAYS * 2 * log_gb / (DAYS * 8)  # 2 tables over ~3 hours
    lines += logs_lines(log_gb, stored, scanned, free)
    if usage.detailed_monitoring:
        add("CloudWatch", "custom metrics (DetailedMonitoring)", "metrics", month.metric_months())
        add("X-Ray", "traces (DetailedMonitoring)", "xray_traces", sum(invocations.values()))
    add("CloudWatch", "alarm metrics", "alarm_metrics", facts.alarm_metrics)
    over = facts.dashboard_metrics > FREE_DASHBOARD_METRICS
    lines.append(
        Line(
            "CloudWatch",
            f"dashboard ({facts.dashboard_metrics} metrics)",
            1,
            "dashboard-month",
            PRICES["dashboards"].usd if over or not free else 0.0,
        )
    )
    if month.ticks:
        add("EventBridge Scheduler", "roster poll invocations", "scheduler_invocations", month.ticks)
    return Bill(lines)


def logs_lines(ingested: float, stored: float, scanned: float, free: bool) -> list[Line]:
    """CloudWatch Logs: the free 5 GB covers ingestion, storage and Logs Insights together (taken in
    that order here)."""
    allowance = PRICES["logs_ingested"].free if free else 0.0
    lines = []
    for what, key, quantity in (
        ("ingested", "logs_ingested", ingested),
        ("stored (steady state over the retention)", "logs_stored", stored),
        ("Logs Insights scanned by the dashboard's tables", "logs_scanned", scanned),
    ):
        covered = min(allowance, quantity)
        allowance -= covered
        price = PRICES[key]
        lines.append(
            Line("CloudWatch Logs", what, quantity, price.unit, (quantity - covered) / price.per * price.usd)
        )
    return lines
