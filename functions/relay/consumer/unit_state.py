"""Unit state: each unit's newest known value of every field, with the stamp that made it newest.

One item per unit in the state table, `pk = unit#<mdt_id>#<guild_id>`, `sk = <unit id>`. Besides the
fields, an item holds:

- `version`: bumped by every change of its content, and by `mark_dirty`;
- `sent_version`: the version last confirmed written to Northca.

Every write is conditional on the version the writer read, so two consumers can never overwrite a
newer value with an older one; `mark_sent` only succeeds while nobody has written since the read.
The port is `relay.ports.UnitStateStore` (DynamoDB in relay.aws.dynamodb, memory in relay.memory);
the consumer's protocol on top of it is described in docs/consumer.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relay.consumer.merge import FieldStamp
from relay.models import UNIT_PREFIX, unit_record


@dataclass(frozen=True, order=True)
class UnitKey:
    mdt_id: str
    guild_id: str
    unit_id: str

    @property
    def pk(self) -> str:
        return f"{UNIT_PREFIX}{self.mdt_id}#{self.guild_id}"

    @property
    def sk(self) -> str:
        return self.unit_id


@dataclass(frozen=True)
class UnitState:
    """What the store holds for one unit; `version` 0 means there is no item yet."""

    key: UnitKey
    fields: Mapping[str, FieldStamp] = field(default_factory=dict)
    version: int = 0
    sent_version: int = 0

    @property
    def unsent(self) -> bool:
        return self.version > self.sent_version

    def record(self) -> dict[str, Any]:
        """The full partner record of this version (every writable field present)."""
        return unit_record(self.key.unit_id, {name: s.value for name, s in self.fields.items()})
