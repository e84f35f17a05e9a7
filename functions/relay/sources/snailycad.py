"""The `snailycad` preset: SnailyCAD's `UNIT_STATUS` raw webhook (unsigned: use a `url-token`).

SnailyCAD posts the whole updated unit (its Prisma record with relations) as the body. Which
relations are included is UNCONFIRMED, so every path below is only a
default: override any of them under `[sources.X.options.fields]`. When a unit goes off duty SnailyCAD
clears its status, which the `defaults` turn into the MDT's off-duty code.
"""

from __future__ import annotations

from relay.sources import SenderFacts
from relay.sources.mapping import mapping_preset

DEFAULTS = {
    "units": "@",
    "at": "lastStatusChangeTimestamp || updatedAt",
    "fields": {
        "id": "join('-', [callsign, callsign2][?@])",
        "officer_name": "citizen && join(' ', [citizen.name, citizen.surname][?@])",
        "officer_badge": "badgeNumberString || badgeNumber",
        "department": "department.value.value",
        "rank": "rank.value",
        "status": "status.value.value",
    },
    "defaults": {"status": "10-7"},
}

KIND = mapping_preset(
    DEFAULTS,
    SenderFacts(
        docs="docs/sources/snailycad.md",
        samples=("snailycad_unit_status.json",),
        example_source="snailycad",
        profile_rank=3,
        reports_state=True,
        signature={"scheme": "url-token"},
    ),
)
