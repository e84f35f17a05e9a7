"""AWS's list prices the relay's bill is made of, US East (N. Virginia), as read on the date below, each
with the AWS pricing page it comes from. Other regions differ (often by 10-25%); check yours there.

`free` is the monthly allowance of AWS's always-free tier, applied apart (`relay cost` shows the bill
beyond it and the usage it covers). The 12-month free tier of accounts opened before 15 July 2025 (1M
HTTP API calls a month among others) and the credits of the newer free plan are not counted: they end.

Read from stored copies of the AWS pages named here (no live web from this machine), cross-checked
where a page's table is drawn by script against dated summaries quoting it: docs/cost.md lists which.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES_DATE = "2026-12-06"
REGION = "us-east-1"


@dataclass(frozen=True)
class Price:
    usd: float  # per `per` units
    per: float
    unit: str
    source: str
    free: float = 0.0  # always-free units a month (in `unit`)

    def cost(self, quantity: float) -> float:
        """The charge for `quantity` units beyond the free allowance."""
        return max(0.0, quantity - self.free) / self.per * self.usd


LAMBDA = "https://aws.amazon.com/lambda/pricing/"
API_GATEWAY = "https://aws.amazon.com/api-gateway/pricing/"
SQS = "https://aws.amazon.com/sqs/pricing/"
DYNAMODB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
SECRETS_MANAGER = "https://aws.amazon.com/secrets-manager/pricing/"
KMS = "https://aws.amazon.com/kms/pricing/"
CLOUDWATCH = "https://aws.amazon.com/cloudwatch/pricing/"
XRAY = "https://aws.amazon.com/xray/pricing/"
SNS = "https://aws.amazon.com/sns/pricing/"
EVENTBRIDGE = "https://aws.amazon.com/eventbridge/pricing/"

PRICES: dict[str, Price] = {
    "lambda_requests": Price(0.20, 1e6, "request", LAMBDA, free=1e6),
    # Arm (Graviton2), the template's architecture; the first 7.5 billion GB-s a month.
    "lambda_gb_seconds": Price(0.0000133334, 1, "GB-second", LAMBDA, free=400_000),
    # HTTP APIs, the first 300 million a month; metered in 512 KB increments.
    "api_requests": Price(1.00, 1e6, "request", API_GATEWAY),
    # Standard queues; each 64 KB of a request's payload is one request.
    "sqs_requests": Price(0.40, 1e6, "request", SQS, free=1e6),
    "dynamodb_write_units": Price(0.625, 1e6, "write request unit", DYNAMODB),
    "dynamodb_read_units": Price(0.125, 1e6, "read request unit", DYNAMODB),
    "dynamodb_storage": Price(0.25, 1, "GB-month", DYNAMODB, free=25),
    "dynamodb_pitr": Price(0.20, 1, "GB-month", DYNAMODB),
    "secrets": Price(0.40, 1, "secret-month", SECRETS_MANAGER),
    "secrets_api": Price(0.05, 10_000, "API call", SECRETS_MANAGER),
    "kms_keys": Price(1.00, 1, "key-month", KMS),
    "kms_requests": Price(0.03, 10_000, "request", KMS, free=20_000),
    # CloudWatch Logs (standard class): ingestion, storage and Logs Insights share one free 5 GB.
    "logs_ingested": Price(0.50, 1, "GB", CLOUDWATCH, free=5),
    "logs_stored": Price(0.03, 1, "GB-month", CLOUDWATCH),
    "logs_scanned": Price(0.005, 1, "GB", CLOUDWATCH),
    # Custom metrics, the first 10,000: billed per metric-month, prorated by the hour it gets data.
    "metrics": Price(0.30, 1, "metric-month", CLOUDWATCH, free=10),
    # Standard-resolution alarms: per metric an alarm (or its math) reads.
    "alarm_metrics": Price(0.10, 1, "alarm metric-month", CLOUDWATCH, free=10),
    # Free: 3 dashboards of up to 50 metrics a month; a bigger one, or a fourth, is billed.
    "dashboards": Price(3.00, 1, "dashboard-month", CLOUDWATCH),
    "xray_traces": Price(5.00, 1e6, "trace recorded", XRAY, free=100_000),
    "sns_email": Price(2.00, 100_000, "email notification", SNS, free=1_000),
    "scheduler_invocations": Price(1.00, 1e6, "invocation", EVENTBRIDGE, free=14e6),
    "pipes_requests": Price(0.40, 1e6, "request", EVENTBRIDGE),
    "api_destinations": Price(0.20, 1e6, "invocation", EVENTBRIDGE),
}
FREE_DASHBOARD_METRICS = 50
