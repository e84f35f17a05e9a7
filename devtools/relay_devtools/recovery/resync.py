"""`relay resync --mdt M [--source S]`: every unit the relay knows in the MDT (its unit state, in each
guild relay.toml pairs with the MDT), as relay:resync messages through the normal consumer, which puts
back whole a unit the partner no longer lists and leaves every listed one to its other writers
(relay.consumer.preview.resync_messages, docs/consumer.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from relay.aws.unit_state import state_from_item
from relay.config.schema import RelayConfig
from relay.consumer.unit_state import UnitKey, UnitState
from relay.models import UNIT_PREFIX


def guilds_of(config: RelayConfig, mdt_id: str) -> list[str]:
    """The guilds relay.toml writes the MDT in (its sources' and ER:LC servers')."""
    pairs = [(s.mdt_id, s.guild_id) for s in config.sources.values()]
    pairs += [(s.mdt_id, s.guild_id) for s in config.erlc.servers.values()]
    return sorted({guild for mdt, guild in pairs if mdt == mdt_id})


def _items(dynamodb: Any, table: str, pk: str) -> Iterator[dict[str, Any]]:
    start: dict[str, Any] | None = None
    while True:
        params: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        if start:
            params["ExclusiveStartKey"] = start
        page = dynamodb.query(**params)
        yield from page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def known_units(dynamodb: Any, table: str, mdt_id: str, guilds: list[str]) -> list[UnitState]:
    """The unit state of every unit of the MDT in these guilds (one Query per guild, paged)."""
    states = []
    for guild_id in guilds:
        for item in _items(dynamodb, table, f"{UNIT_PREFIX}{mdt_id}#{guild_id}"):
            states.append(state_from_item(UnitKey(mdt_id, guild_id, item["sk"]["S"]), item))
    return states
