"""The archive on DynamoDB (ArchiveTable: `pk`, `sk`, TTL `expires_at`; encrypted at rest with the free
AWS owned key, as every table of the stack).

Two items per delivery, written together in one BatchWriteItem (one round trip for the ingress):
- the record: `pk = src#<source>`, `sk = <received at, ms>#<webhook id>` (a refused delivery:
  `refused:<request id>`), `record` the delivery as compressed JSON (bodies and messages repeat
  themselves: a few KB become under one);
- a pointer: `pk = id#<webhook id>` (`id#request:<request id>` without one), `sk = <source>#<the
  record's sk>`, for `relay inspect` and `relay replay WEBHOOK_ID` (no index to pay for: a Query of its
  own key).
A source's records in a window are one Query on its key. DynamoDB keeps an item of at most 400 KB: a
record over ARCHIVE_ITEM_LIMIT is kept without its body (`body_omitted`), never refused.
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
POINTER_PREFIX = "id#"
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
        expires = {"N": str(int(delivery.received_at.timestamp()) + days * 86400)}
        puts: list[dict[str, Any]] = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": f"{RECORD_PREFIX}{delivery.source}"},
                        "sk": {"S": delivery.name},
                        "record": {"B": blob},
                        "expires_at": expires,
                    }
                }
            }
        ]
        if delivery.lookup_id:
            pointer = {
                "pk": {"S": f"{POINTER_PREFIX}{delivery.lookup_id}"},
                "sk": {"S": f"{delivery.source}#{delivery.name}"},
                "expires_at": expires,
            }
            puts.append({"PutRequest": {"Item": pointer}})
        try:
            answer = self.client.batch_write_item(RequestItems={self.table_name: puts})  # type: ignore[dict-item]
        except Exception as exc:  # noqa: BLE001 - any client error: not kept (the ingress counts it)
            raise ArchiveUnavailableError(f"BatchWriteItem: {aws_error_code(exc)}") from None
        if answer.get("UnprocessedItems"):
            raise ArchiveUnavailableError("BatchWriteItem: items left unprocessed (throttled)")

    # ------------------------------------------------------------------ reads (the operator's commands)

    def _query(self, **params: Any) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            call: dict[str, Any] = {"TableName": self.table_name, **params}
            if start:
                call["ExclusiveStartKey"] = start
            page = self.client.query(**call)
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
                self._query(
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
            pointers = [
                item
                for item in self._query(
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": f"{POINTER_PREFIX}{webhook_id}"}},
                    ConsistentRead=True,
                )
                if self._live(item)
            ]
            found = []
            for pointer in pointers:
                source, _, name = pointer["sk"]["S"].partition("#")
                answer = self.client.get_item(
                    TableName=self.table_name,
                    Key={"pk": {"S": f"{RECORD_PREFIX}{source}"}, "sk": {"S": name}},
                    ConsistentRead=True,
                )
                item = answer.get("Item")
                if item and self._live(item):
                    found.append(unpack_delivery(item["record"]["B"]))
        except Exception as exc:  # noqa: BLE001
            raise ArchiveUnavailableError(f"reading {webhook_id!r}: {aws_error_code(exc)}") from None
        return sorted(found, key=lambda d: d.received_at)
