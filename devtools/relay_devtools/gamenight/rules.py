"""The community of the game night: its relay.toml, and how its people mean what they type.

Two readings of the same evening live here. `relay_toml` is the configuration the relay under test
runs with, the one a community admin would write (docs/sources/erlc.md and sonoran.md); it uses only
options the relay has had since before issue 17, so an older relay runs the same evening. The
functions below it are the *game's* reading, the one the model (model.py) uses: what a player means
by a command, which unit a callsign is, what a Sonoran status number is on the MDT.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

MDT_ID: Final = "6a7c1e2f-5b3d-4e8a-9c0f-1d2e3f4a5b6c"
GUILD_ID: Final = "765432109876543210"
SERVER: Final = "main"
ERLC_SOURCE: Final = "erlc"
SONORAN_SOURCE: Final = "sonoran"
# The names of the secrets (in the local secrets file), not secrets.
PARTNER_KEY_SECRET: Final = "northca/partner-key"  # noqa: S105
SERVER_KEY_SECRET: Final = f"relay/erlc/{SERVER}"
ERLC_SECRET: Final = "relay/sources/erlc"  # noqa: S105
SONORAN_SECRET: Final = "relay/sources/sonoran"  # noqa: S105

# In-game team -> the MDT's department; only these teams are on duty.
DEPARTMENTS: Final = {"Police": "Patrol", "Sheriff": "Sheriff's Office", "Fire": "Fire", "DOT": "DOT"}
ON_DUTY: Final = "10-8"
OFF_DUTY: Final = "10-7"
OFF_DUTY_STATUSES: Final = frozenset({OFF_DUTY})
# What the community lets a player put on the MDT from the game.
ALLOWED_STATUSES: Final = ("10-6", "10-7", "10-8", "10-23", "10-76", "10-97")
STATUS_COMMANDS: Final = ("status", "s")
ALIASES: Final = {"avail": "10-8", "busy": "10-6"}
WORDS: Final = {"available": "10-8"}
# Sonoran's status enum as this community maps it (the relay's tables differ between versions: the
# evening states it, so both relays read a number alike).
SONORAN_STATUSES: Final = {0: "10-6", 1: "10-6", 2: "10-8", 3: "10-76", 4: "10-97"}
SONORAN_LOGOUT: Final = OFF_DUTY
# Fields whose owner is the CAD when it has said them: its name, department and rank stand over the
# game's display name and team.
CAD_OWNED: Final = frozenset({"officer_name", "department", "rank"})
# The fields the evening compares (no source gives a badge).
FIELDS: Final = ("officer_name", "department", "rank", "status")

_TEN_CODE: Final = re.compile(r"^10-0*(\d{1,3})$")


def relay_toml(*, read_timeout: float = 10.0) -> str:
    """The relay.toml of the evening: an ER:LC server, its event webhook and a Sonoran CAD, one MDT."""
    departments = ", ".join(f'{team} = "{name}"' for team, name in DEPARTMENTS.items())
    aliases = ", ".join(f'{name} = "{status}"' for name, status in ALIASES.items())
    words = ", ".join(f'{word} = "{status}"' for word, status in WORDS.items())
    allowed = ", ".join(f'"{status}"' for status in ALLOWED_STATUSES)
    sonoran = ", ".join(f'"{code}" = "{status}"' for code, status in SONORAN_STATUSES.items())
    return f"""# The game night's relay.toml (relay_devtools.gamenight.rules): written for each run.
[northca]
partner_key_secret = "{PARTNER_KEY_SECRET}"
read_timeout = {read_timeout}

[erlc.servers.{SERVER}]
server_key_secret = "{SERVER_KEY_SECRET}"
mdt_id = "{MDT_ID}"
guild_id = "{GUILD_ID}"
departments = {{ {departments} }}
on_duty_status = "{ON_DUTY}"
off_duty_status = "{OFF_DUTY}"

[sources.{ERLC_SOURCE}]
adapter = "erlc-events"
mdt_id = "{MDT_ID}"
guild_id = "{GUILD_ID}"
signature = {{ scheme = "ed25519", secret = "{ERLC_SECRET}" }}

[sources.{ERLC_SOURCE}.options]
server = "{SERVER}"
status_commands = [{", ".join(f'"{c}"' for c in STATUS_COMMANDS)}]
aliases = {{ {aliases} }}
value_maps = {{ status = {{ {words} }} }}
allowed_statuses = [{allowed}]

[sources.{SONORAN_SOURCE}]
adapter = "sonoran"
mdt_id = "{MDT_ID}"
guild_id = "{GUILD_ID}"
signature = {{ scheme = "body-key", secret = "{SONORAN_SECRET}" }}

[sources.{SONORAN_SOURCE}.options]
value_maps = {{ status = {{ {sonoran} }} }}
logout_status = "{SONORAN_LOGOUT}"
"""


def canonical_id(unit_id: str) -> str:
    """One officer is one unit whatever the case or spacing of the callsign: `1a-07` is `1A-07`."""
    return " ".join(unicodedata.normalize("NFC", unit_id).split()).upper()


def _status_word(word: str) -> str | None:
    """A status as a player writes it: `10-08` is `10-8`, `Available` is `available`."""
    lowered = word.strip().lower()
    ten = _TEN_CODE.match(lowered)
    if ten:
        return f"10-{int(ten[1])}"
    return WORDS.get(lowered) or ALIASES.get(lowered)


def read_command(text: str) -> str | None:
    """The status a player means by a chat line, or None when it is not a status command.

    `;status Available`, `;s 10-6 at scene`, `;10-08`, `;busy` all count; trailing words are the
    player's own notes; a status the community does not allow changes nothing.
    """
    cleaned = text.strip()
    if not cleaned.startswith(";"):
        return None
    words = cleaned[1:].split()
    if not words:
        return None
    name = words[0].lower()
    if name in STATUS_COMMANDS:
        status = _status_word(words[1]) if len(words) > 1 else None
    elif name in ALIASES:
        status = ALIASES[name]
    else:
        ten = _TEN_CODE.match(name)
        status = f"10-{int(ten[1])}" if ten else None
    return status if status in ALLOWED_STATUSES else None


def sonoran_status(code: int) -> str | None:
    return SONORAN_STATUSES.get(code)


def department_of(team: str) -> str | None:
    """The department of an on-duty team; None for a team that is not on duty (Civilian, Jail)."""
    return DEPARTMENTS.get(team)
