"""The evening's HTTP calls to a running `relay local`: signed webhooks to its ingress, the ER:LC
emulator's and the Northca emulator's control routes, and the partner's list endpoint. Nothing else:
the relay under test may be any version of `relay local`."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from relay.config.schema import Ed25519Signature
from relay_devtools.gamenight import rules
from relay_devtools.gamenight.records import CadEvent
from relay_devtools.webhooks.signing import SignedDelivery, sign

TIMEOUT = 30.0


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer (refused, reset, timed out)
    body: Any


def call(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
) -> Answer:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    sent = {"content-type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=data, headers=sent, method=method)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - loopback URLs
            status, text = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()
    except (OSError, urllib.error.URLError):
        return Answer(0, None)
    try:
        return Answer(status, json.loads(text) if text else None)
    except ValueError:
        return Answer(status, text.decode(errors="replace"))


@dataclass(frozen=True)
class Secrets:
    partner_key: str
    server_key: str
    erlc_public: str
    erlc_private: str
    sonoran_key: str

    def toml(self) -> str:
        entries = {
            rules.PARTNER_KEY_SECRET: self.partner_key,
            rules.SERVER_KEY_SECRET: self.server_key,
            rules.ERLC_SECRET: self.erlc_public,
            rules.SONORAN_SECRET: self.sonoran_key,
        }
        lines = ["[secrets]", *(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in entries.items())]
        lines += ["", "[signing_keys]", f"{json.dumps(rules.ERLC_SECRET)} = {json.dumps(self.erlc_private)}"]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Endpoints:
    ingress: str  # .../hooks
    northca: str  # .../v1
    erlc: str


class RelayClient:
    def __init__(self, endpoints: Endpoints, secrets: Secrets) -> None:
        self.endpoints, self.secrets = endpoints, secrets
        self.northca_root = endpoints.northca.removesuffix("/v1")

    # ------------------------------------------------------------ webhooks

    def sign_command(self, typed_at: float, name: str, user_id: str, text: str, now: float) -> SignedDelivery:
        body = {
            "Type": "CustomCommand",
            "Timestamp": int(typed_at),
            "Data": {"Player": f"{name}:{user_id}", "Command": text},
        }
        config = Ed25519Signature(scheme="ed25519", secret=rules.ERLC_SECRET)
        moment = datetime.fromtimestamp(now, UTC)
        return sign(
            config,
            json.dumps(body).encode(),
            self.secrets.erlc_public,
            now=moment,
            private_key=self.secrets.erlc_private,
        )

    def post(self, source: str, delivery: SignedDelivery) -> int:
        url = f"{self.endpoints.ingress}/{source}"
        return call("POST", url, headers=delivery.headers, raw=delivery.body).status

    def send_cad(self, event: CadEvent) -> int:
        if event.kind == "login":
            unit: dict[str, Any] = {
                "id": event.ident,
                "status": event.code,
                "isPanic": False,
                "data": {
                    "apiIds": [],
                    "unitNum": event.unit_num,
                    "name": event.name,
                    "department": event.department,
                    "rank": event.rank,
                },
            }
            data: dict[str, Any] = {"unit": unit, "isDispatch": False}
            kind = "EVENT_UNIT_LOGIN"
        elif event.kind == "status":
            data, kind = {"identIds": event.ident, "status": event.code}, "EVENT_UNIT_STATUS"
        else:
            data, kind = {"identId": event.ident}, "EVENT_UNIT_LOGOUT"
        body = {"key": self.secrets.sonoran_key, "type": kind, "data": [data]}
        return call("POST", f"{self.endpoints.ingress}/{rules.SONORAN_SOURCE}", body).status

    # ------------------------------------------------------------ the ER:LC emulator

    def set_players(self, players: list[dict[str, Any]]) -> int:
        return call("PUT", f"{self.endpoints.erlc}/_emulator/players", players).status

    def erlc_requests(self) -> list[dict[str, Any]]:
        answer = call("GET", f"{self.endpoints.erlc}/_emulator/requests")
        return answer.body if isinstance(answer.body, list) else []

    def erlc_fault(self, fault: dict[str, Any]) -> bool:
        """A fault through the emulator's control route; False when it has none (an older emulator)."""
        return call("POST", f"{self.endpoints.erlc}/_emulator/faults", [fault]).status == 200

    def empty_bucket(self, until: Callable[[], float]) -> float:
        """Spend the server key's rate-limit bucket, as another tool on the same key would, so that it
        stays empty at least until `until()`: the relay's requests are answered PRC's 429 until the
        bucket refills. Returns the seconds it stays empty."""
        headers = {"server-key": self.secrets.server_key}
        for _ in range(300):
            answer = call("GET", f"{self.endpoints.erlc}/v2/server", headers=headers)
            if answer.status != 429:
                continue
            wait = float(answer.body.get("retry_after", 0)) if isinstance(answer.body, dict) else 0.0
            if time.time() + wait >= until():
                return wait
            time.sleep(wait + 0.2)  # too little left of this window: spend the next one
        return 0.0

    # ------------------------------------------------------------ the Northca emulator

    def partner_headers(self) -> dict[str, str]:
        return {"x-partner-key": self.secrets.partner_key, "x-discord-guild": rules.GUILD_ID}

    def units(self) -> list[dict[str, Any]]:
        answer = call(
            "GET",
            f"{self.endpoints.northca}/mdts/{rules.MDT_ID}/units/active",
            headers=self.partner_headers(),
        )
        data = answer.body.get("data") if isinstance(answer.body, dict) else None
        return data if isinstance(data, list) else []

    def partner_fault(self, spec: dict[str, Any]) -> int:
        return call("POST", f"{self.northca_root}/_emulator/faults", [spec]).status

    def partner_faults(self) -> dict[str, Any]:
        answer = call("GET", f"{self.northca_root}/_emulator/faults")
        data = answer.body.get("data") if isinstance(answer.body, dict) else None
        return data if isinstance(data, dict) else {}

    def partner_requests(self) -> list[dict[str, Any]]:
        answer = call("GET", f"{self.northca_root}/_emulator/requests")
        data = answer.body.get("data") if isinstance(answer.body, dict) else None
        return data if isinstance(data, list) else []

    def edit(self, unit_id: str, fields: dict[str, str]) -> dict[str, Any] | None:
        url = f"{self.northca_root}/_emulator/units/{quote(rules.MDT_ID, safe='')}/{quote(unit_id, safe='')}"
        answer = call("PATCH", url, fields)
        data = answer.body.get("data") if isinstance(answer.body, dict) else None
        return data if answer.status == 200 and isinstance(data, dict) else None


def erlc_player(name: str, user_id: str, team: str, callsign: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"Player": f"{name}:{user_id}", "Permission": "Normal", "Team": team}
    if callsign is not None:
        entry["Callsign"] = callsign
    return entry
