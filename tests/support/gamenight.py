"""Records of a game night, written short: the model's and the measures' tests build evenings with these."""

from __future__ import annotations

from typing import Any

from relay_devtools.gamenight.mdt import WRITABLE
from relay_devtools.gamenight.records import CadEvent, Delivery, Edit, GameChange, Typed


def join(
    at: float, user: str, callsign: str | None = "1A-07", team: str = "Police", name: str = ""
) -> GameChange:
    return GameChange(at, user, name or f"Player_{user}", team, callsign, "join")


def leave(at: float, user: str, name: str = "") -> GameChange:
    return GameChange(at, user, name or f"Player_{user}", None, None, "leave")


def team(at: float, user: str, new_team: str, callsign: str | None = "1A-07") -> GameChange:
    return GameChange(at, user, f"Player_{user}", new_team, callsign, "team")


def callsign(at: float, user: str, new: str, team_name: str = "Police") -> GameChange:
    return GameChange(at, user, f"Player_{user}", team_name, new, "callsign")


def typed(at: float, user: str, text: str, sent: float | None = None) -> Typed:
    return Typed(
        at, user, f"Player_{user}", text, (Delivery(at + 0.5 if sent is None else sent, "first", 202),)
    )


def login(
    at: float, unit_num: str = "1a-07", ident: int = 7, code: int = 0, name: str = "Sgt Rossi"
) -> CadEvent:
    return CadEvent(at, "login", ident, unit_num, name, "LSPD", "SGT", code, 202)


def cad_status(at: float, code: int, ident: int = 7) -> CadEvent:
    return CadEvent(at, "status", ident, code=code, status=202)


def logout(at: float, ident: int = 7) -> CadEvent:
    return CadEvent(at, "logout", ident, status=202)


def edit(at: float, unit: str, unit_id: str | None = None, **fields: str) -> Edit:
    return Edit(at, unit, dict(fields), unit_id or unit, True)


def put(at: str, *units: dict[str, str], status: int = 200) -> dict[str, Any]:
    """One upsert as the Northca emulator's request log keeps it (`at` is ISO with Z)."""
    return {
        "method": "PUT",
        "path": "/v1/mdts/m/units/active",
        "status": status,
        "at": at,
        "body": {"units": list(units)},
    }


def unit(unit_id: str, **fields: str) -> dict[str, str]:
    return {"id": unit_id, **{name: fields.get(name, "") for name in WRITABLE}}
