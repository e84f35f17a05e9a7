"""What an evening holds: its size and mix (`Size`; the defaults are issue 17's evening, `TINY` a
clean handful), and the words people use in it."""

from __future__ import annotations

from dataclasses import dataclass

SURNAMES = (
    "Lindqvist",
    "Okafor",
    "Rossi",
    "Bianchi",
    "Novak",
    "Haddad",
    "Moreau",
    "Tanaka",
    "Kowalski",
    "Brennan",
    "Dubois",
    "Silva",
    "Fischer",
    "Nakamura",
    "Petrov",
    "Ortega",
    "Larsen",
    "Quinn",
    "Varga",
    "Abara",
    "Keller",
    "Marsh",
    "Soto",
    "Ivanova",
    "Byrne",
    "Costa",
    "Hale",
    "Iqbal",
    "Jensen",
    "Kaur",
    "Lopez",
    "Mbeki",
    "Nilsen",
    "Ozturk",
    "Park",
    "Reyes",
    "Stone",
    "Toth",
    "Ueda",
    "Wolfe",
    "Young",
    "Zimmer",
)
PLAIN = (
    ";10-6",
    ";10-8",
    ";10-97",
    ";10-23",
    ";status 10-6",
    ";s 10-97",
    ";avail",
    ";busy",
    ";10-6",
    ";10-97",
)
ODD = (
    ";status Available",
    ";status available",
    ";10-08",
    ";10-06",
    ";status 10-6 at scene",
    ";10-76",
    ";STATUS 10-97",
)
NOT_STATUS = (";help", ";ban Troll_99", "on my way", ";mdt")
AFTER_JOIN = (";10-6", ";10-97", ";10-23", ";status 10-6 at scene", ";busy")
CAD_NAMES = (
    "Sgt Rossi",
    "Ofc Bianchi",
    "Cpl Novak",
    "Lt Haddad",
    "Ofc Moreau",
    "Sgt Tanaka",
    "Ofc Keller",
    "Det Marsh",
)
CAD_RANKS = ("SGT", "OFC", "CPL", "LT", "OFC", "SGT", "OFC", "DET")
EDIT_VALUES = {
    "officer_name": ("Sgt. Fixed Name", "Ofc. Renamed", "Lt. Corrected"),
    "department": ("Traffic", "K9", "CID"),
    "status": ("10-23", "10-6", "10-97"),
}
# When the ER:LC API answers its 429 and its "server offline", as shares of the evening.
RATE_LIMIT_AT = 0.45
OFFLINE_AT = 0.7
TEAM_CALLSIGNS = {"Police": "1A", "Sheriff": "2B", "Fire": "E", "DOT": "D"}


@dataclass(frozen=True)
class Size:
    """How big the evening is, and what it holds. The defaults are issue 17's evening."""

    players: int = 40
    commands: int = 220
    cad_officers: int = 8
    edits: int = 12
    duration: float = 300.0
    poll_seconds: float = 30.0
    civilians: float = 0.15
    present_at_start: float = 0.35
    leaves: int = 8
    rejoins: int = 5
    team_changes: int = 3
    callsign_changes: int = 2
    right_after_join: float = 0.35
    # False: a player types only once the roster has surely seen them (a clean evening).
    type_before_poll: bool = True
    odd_commands: bool = True
    not_status: float = 0.06
    duplicates: float = 0.1
    late: float = 0.1
    cad_logouts: bool = True
    partner_faults: bool = True
    erlc_outages: bool = True
    read_timeout: float = 10.0


TINY = Size(
    players=4, commands=8, cad_officers=1, edits=1, duration=24.0, poll_seconds=2.0, civilians=0.0,
    present_at_start=1.0, leaves=0, rejoins=0, team_changes=0, callsign_changes=0, right_after_join=0.0,
    type_before_poll=False, odd_commands=False, not_status=0.0, duplicates=0.25, late=0.0,
    cad_logouts=False, partner_faults=False, erlc_outages=False,
)  # fmt: skip
