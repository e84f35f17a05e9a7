"""The archive on DynamoDB (ArchiveTable: `pk`, `sk`, TTL `expires_at`; encrypted at rest with the free
AWS owned key, as every table of the stack).

One item per delivery, one PutItem (one write unit under 1 KB, which a compressed record usually is):
`pk = src#<source>`, `sk = <received at, ms>#<webhook id>` (a refused delivery: `refused:<request
id>`), `lookup` its webhook id (`request:<request id>` without one), `record` the delivery as
compressed JSON (bodies and messages repeat themselves: a few KB become under one).
A source's records in a window are one Query on its key. A webhook id is found by a Scan filtered on
`lookup`: no index and no second item to write per webhook (each would be a write unit every
delivery); the operator's rare `relay inspect` reads the table instead (7 days of a typical community,
~9,000 items, is ~1,000 read units: $0.0001). DynamoDB keeps an item of at most 400 KB: a record over
ARCHIVE_ITEM_LIMIT is kept without its body (`body_omitted`), never refused.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from relay.aws import aws_error_code
from relay.errors import ArchiveUnavailableError
from relay.models import utc_now
from relay.ports.archive import ArchivedDelivery

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RECORD_PREFIX = "src#"
# Under DynamoDB's 400 KB per item, with room for the keys and attributes beside the record.
ARCHIVE_ITEM_LIMIT = 380 * 1024


def pack_delivery(delivery: ArchivedDelivery, *, with_body: bool = True) -> bytes:
    data: dict[str, Any] = {
        "source": delivery.source,
        "received_at": delivery.received_at.isoformat(),
        "outcome": delivery.outcome,
        "webhook_id": delivery.webhook_id,
        "request_id": delivery.request_id,
        "messages": list(delivery.messages),
        "label": delivery.label,
        "reason": delivery.reason,
        "secret_digest": delivery.secret_digest,
    }
    if with_body and delivery.body is not None:
        data["body"] = base64.b64encode(delivery.body).decode("ascii")
        data["headers"] = dict(delivery.headers)
    elif delivery.body is not None:
        data["body_omitted"] = len(delivery.body)
    return zlib.compress(json.dumps(data, separators=(",", ":")).encode("utf-8"), 9)


def unpack_delivery(blob: bytes) -> ArchivedDelivery:
    data = json.loads(zlib.decompress(blob).decode("utf-8"))
    body = data.get("body")
    return ArchivedDelivery(
        source=data["source"],
        received_at=datetime.fromisoformat(data["received_at"]),
        outcome=data["outcome"],
        webhook_id=data.get("webhook_id"),
        request_id=data.get("request_id"),
        messages=tuple(data.get("messages") or ()),
        label=data.get("label"),
        reason=data.get("reason"),
        body=base64.b64decode(body) if isinstance(body, str) else None,
        headers=dict(data.get("headers") or {}),
        secret_digest=data.get("secret_digest"),
    )


class DynamoArchive:
    """relay.ports.archive.ArchiveWriter and ArchiveReader on the archive table."""

    def __init__(
        self, table_name: str, client: DynamoDBClient, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.table_name = table_name
        self.client = client
        self.clock = clock

    def keep(self, delivery: ArchivedDelivery, days: int) -> None:
        blob = pack_delivery(delivery)
        if len(blob) > ARCHIVE_ITEM_LIMIT:
            blob = pack_delivery(delivery, with_body=False)
        if len(blob) > ARCHIVE_ITEM_LIMIT:
            raise ArchiveUnavailableError(f"record of {len(blob)} bytes compressed: over the item limit")
        item: dict[str, Any] = {
            "pk": {"S": f"{RECORD_PREFIX}{delivery.source}"},
            "sk": {"S": delivery.name},
            "record": {"B": blob},
            "expires_at": {"N": str(int(delivery.received_at.timestamp()) + days * 86400)},
        }
        if delivery.lookup_id:
            item["lookup"] = {"S": delivery.lookup_id}
        try:
            self.client.put_item(TableName=self.table_name, Item=item)
        except Exception as exc:  # noqa: BLE001 - any client error: not kept (the ingress counts it)
            raise ArchiveUnavailableError(f"PutItem: {aws_error_code(exc)}") from None

    # ------------------------------------------------------------------ reads (the operator's commands)

    def _pages(self, operation: Callable[..., Any], **params: Any) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            call: dict[str, Any] = {"TableName": self.table_name, **params}
            if start:
                call["ExclusiveStartKey"] = start
            page = operation(**call)
            yield from page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def _live(self, item: dict[str, Any]) -> bool:
        expires = item.get("expires_at", {}).get("N")
        return expires is None or float(expires) > self.clock().timestamp()  # TTL deletes up to days late

    def window(self, source: str, since: datetime, until: datetime) -> list[ArchivedDelivery]:
        low = ArchivedDelivery(source, since, "accepted").name.split("#", 1)[0]
        high = ArchivedDelivery(source, until, "accepted").name.split("#", 1)[0] + "#\uffff"
        try:
            items = list(
                self._pages(
                    self.client.query,
                    KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
                    ExpressionAttributeValues={
                        ":pk": {"S": f"{RECORD_PREFIX}{source}"},
                        ":low": {"S": low},
                        ":high": {"S": high},
                    },
                    ConsistentRead=True,
                )
            )
        except Exception as exc:  # noqa: BLE001
            raise ArchiveUnavailableError(f"Query: {aws_error_code(exc)}") from None
        found = [unpack_delivery(item["record"]["B"]) for item in items if self._live(item)]
        return [d for d in found if since <= d.received_at <= until]

    def find(self, webhook_id: str) -> list[ArchivedDelivery]:
        try:
            items = list(
                self._pages(
                    self.client.scan,
                    FilterExpression="#lookup = :id",
                    ExpressionAttributeNames={"#lookup": "lookup"},
                    ExpressionAttributeValues={":id": {"S": webhook_id}},
                    ConsistentRead=True,
                )
            )
        except Exception as exc:  # noqa: BLE001
            raise ArchiveUnavailableError(f"reading {webhook_id!r}: {aws_error_code(exc)}") from None
        found = [unpack_delivery(item["record"]["B"]) for item in items if self._live(item)]
        return sorted(found, key=lambda d: d.received_at)
