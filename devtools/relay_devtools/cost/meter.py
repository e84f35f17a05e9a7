"""The meter of a counted run (relay_devtools.cost.counting): botocore's events count every AWS call a
function makes, with the request units and SQS requests it is billed as, and the log and EMF lines it
writes, as Lambda would ship them to CloudWatch Logs."""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

SQS_CHUNK = 64 * 1024  # SQS bills each 64 KB of a request's payload as one request


class CountingError(Exception):
    """The counted run did not go as a real one would (a webhook refused, a unit not written)."""


@dataclass
class FunctionCount:
    """What one function did in one step of the run."""

    invocations: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    secret_fetches: int = 0
    read_units: float = 0.0
    write_units: float = 0.0
    sqs_requests: int = 0
    log_lines: int = 0
    log_bytes: int = 0
    emf_bytes: int = 0
    metrics: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "invocations": self.invocations,
            "calls": dict(sorted(self.calls.items())),
            "secret_fetches": self.secret_fetches,
            "read_units": self.read_units,
            "write_units": self.write_units,
            "sqs_requests": self.sqs_requests,
            "log_lines": self.log_lines,
            "log_bytes": self.log_bytes,
            "emf_bytes": self.emf_bytes,
            "metrics": sorted(self.metrics),
        }


Step = dict[str, FunctionCount]


class Meter:
    """Counts every AWS call of the function running now (`current`), with what it is billed as: its
    parameters from botocore's `before-parameter-build` event, DynamoDB's request units from the items
    themselves (read back through an unmetered client: a write is billed on the larger of the item
    before and after it, per 1 KB; a read per 4 KB of each item returned). It never raises into the
    relay's code (which would take it for an AWS failure): what it cannot price is kept in `errors` and
    reported after the step."""

    BEFORE = "before-parameter-build.*.*"
    AFTER = "after-call.dynamodb.*"
    KEYS = ("pk", "sk")  # template.yaml's tables' key attributes

    def __init__(self, inspect: Any) -> None:
        self.inspect = inspect  # a DynamoDB client of another session: its calls are not metered
        self.current: Step | None = None
        self.function = ""
        self.errors: list[str] = []

    def register(self, events: Any) -> None:
        events.register(self.BEFORE, self.before)
        events.register(self.AFTER, self.after)

    def before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        try:
            self._before(model, params, context)
        except Exception as exc:  # noqa: BLE001 - reported after the step, never raised into the relay
            self.errors.append(f"{model.name}: {type(exc).__name__}: {exc}")

    def after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        try:
            self._after(model, parsed, context)
        except Exception as exc:  # noqa: BLE001 - as above
            self.errors.append(f"{model.name}: {type(exc).__name__}: {exc}")

    def _count(self) -> FunctionCount | None:
        if self.current is None:
            return None
        return self.current.setdefault(self.function, FunctionCount())

    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any]) -> None:
        count = self._count()
        if count is None:
            return
        service = model.service_model.service_name
        count.calls[f"{service}:{model.name}"] += 1
        if (service, model.name) == ("secretsmanager", "GetSecretValue"):
            count.secret_fetches += 1
        if service == "sqs":
            count.sqs_requests += sqs_requests(params)
        if service == "dynamodb":
            context["meter"] = {"params": params, "before": self._written_item_sizes(model.name, params)}

    def _after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any]) -> None:
        count, noted = self._count(), context.get("meter")
        if count is None or noted is None:
            return
        params = noted["params"]
        if model.name == "GetItem":
            count.read_units += read_units([parsed.get("Item", {})], params.get("ConsistentRead", False))
        elif model.name == "BatchGetItem":
            for table, items in parsed.get("Responses", {}).items():
                consistent = params["RequestItems"][table].get("ConsistentRead", False)
                count.read_units += read_units(items, consistent)
        elif model.name in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"):
            # A refused conditional write is billed too: on the item as it is.
            after = self._written_item_sizes(model.name, params)
            count.write_units += sum(
                max(1, math.ceil(max(b, a) / 1024)) for b, a in zip(noted["before"], after, strict=True)
            )
        else:
            raise CountingError(f"DynamoDB {model.name}: not priced by relay cost yet")

    def _written_item_sizes(self, operation: str, params: dict[str, Any]) -> list[int]:
        """Each written item's size as it is now (before the call, or after it): a BatchWriteItem is
        billed per item it writes, as that many PutItems."""
        if operation == "BatchWriteItem":
            return [
                self._item_size(
                    table, (request.get("PutRequest") or {}).get("Item") or request["DeleteRequest"]["Key"]
                )
                for table, requests in params["RequestItems"].items()
                for request in requests
            ]
        if operation not in ("PutItem", "UpdateItem", "DeleteItem"):
            return []
        return [self._item_size(params["TableName"], params.get("Key") or params["Item"])]

    def _item_size(self, table: str, item_or_key: dict[str, Any]) -> int:
        key = {k: v for k, v in item_or_key.items() if k in self.KEYS}
        item = self.inspect.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return item_size(item) if item else 0


def read_units(items: list[dict[str, Any]], consistent: bool) -> float:
    """Per item read, 4 KB rounded up (1 unit at the least), halved when eventually consistent
    (aws.amazon.com/dynamodb/pricing/on-demand)."""
    units = sum(max(1, math.ceil(item_size(item) / 4096)) for item in items) or 1
    return units if consistent else units / 2


def sqs_requests(params: dict[str, Any]) -> int:
    """SQS bills a call once per 64 KB of its payload (bodies and attributes)."""
    entries = params.get("Entries") or [params]
    size = sum(len(str(entry.get("MessageBody", "")).encode()) for entry in entries)
    size += sum(len(json.dumps(entry.get("MessageAttributes", {}))) for entry in entries)
    return max(1, math.ceil(size / SQS_CHUNK))


def metric_names(emf: str) -> set[str]:
    return {
        metric["Name"]
        for line in emf.splitlines()
        if line.startswith("{")
        for directive in json.loads(line).get("_aws", {}).get("CloudWatchMetrics", [])
        for metric in directive["Metrics"]
    }


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it, a little over: names and values in UTF-8, numbers at
    their text length, 3 bytes per map or list and 1 per element."""

    def size(value: dict[str, Any]) -> int:
        [(kind, inner)] = value.items()
        if kind == "B" and isinstance(inner, bytes | bytearray):
            return len(inner)  # binary is billed by its bytes (boto hands them over raw)
        if kind in ("S", "N", "B"):
            return len(str(inner).encode())
        if kind == "M":
            return 3 + sum(len(k.encode()) + 1 + size(v) for k, v in inner.items())
        if kind == "L":
            return 3 + sum(1 + size(v) for v in inner)
        if kind in ("SS", "NS", "BS"):
            return sum(len(str(v).encode()) for v in inner)
        return 1  # BOOL, NULL

    return sum(len(name.encode()) + size(value) for name, value in item.items())


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def metered_sessions(meter: Meter) -> Iterator[None]:
    """Every boto3 session made from now on carries the meter's hooks: the relay's clients come from
    the default session, Powertools' secrets provider makes a session of its own."""
    import boto3.session

    original = boto3.session.Session.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        meter.register(self.events)

    boto3.session.Session.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        boto3.session.Session.__init__ = original  # type: ignore[method-assign]
