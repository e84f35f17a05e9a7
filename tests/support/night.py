"""The ER:LC side of a game night in memory, end to end with the consumer's rules: the game's players
and emergency calls, PRC's API (answers and faults queued by a test), the scheduled poll, the ingress
taking signed `;` commands and emergency-call events (its on-demand lookup included), and the consumer
(tests/support/emergencies.py's EmergencyHarness, with the policy relay.toml makes) writing units,
calls and panics to a Northca a dispatcher edits. One clock for all of them.

`night.command(...)` posts a command as PRC would, `night.emergency_event(...)` an emergency call;
`night.poll()` runs the schedule's tick; `night.consume()` hands everything queued to the consumer;
`night.mdt(unit)` and `night.northca` are what the dispatcher sees.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from relay.config.loader import parse_config
from relay.config.schema import RelayConfig
from relay.consumer.policy import UnitPolicy
from relay.erlc.lookup import OnDemandLookup
from relay.erlc.poller import PollOutcome, RosterPollDeps, poll_server
from relay.ingress.pipeline import Accepted, InboundRequest, IngressDeps, accept_webhook
from relay.memory import InMemoryReplayGuard, InMemorySourceStateStore, StaticSecrets
from relay.messages import QueueMessage
from relay.ports.erlc import ErlcCall, ErlcPlayer, PlayersAnswer
from relay_devtools.webhooks.signing import sign
from tests.support.constants import GUILD, MDT
from tests.support.consumer import record
from tests.support.data import SENDER_PRIVATE_HEX, SENDER_PUBLIC_SPKI
from tests.support.emergencies import EmergencyHarness, MemoryNorthca

SERVER_KEY = "erlc-server-key-for-tests"


def night_config(**server: Any) -> RelayConfig:
    """A community's relay.toml: one ER:LC server, its `;` commands, and a Sonoran CAD, one MDT."""
    return parse_config(
        {
            "northca": {"partner_key_secret": "northca/partner-key"},
            "erlc": {
                "servers": {
                    "main": {
                        "server_key_secret": "relay/erlc/main",
                        "mdt_id": MDT,
                        "guild_id": GUILD,
                        "departments": {"Police": "Patrol", "Sheriff": "SO"},
                        **server,
                    }
                }
            },
            "sources": {
                "erlc": {
                    "adapter": "erlc-events",
                    "mdt_id": MDT,
                    "guild_id": GUILD,
                    "signature": {"scheme": "ed25519", "secret": "relay/sources/erlc"},
                    "options": {"server": "main"},
                },
                "sonoran": {
                    "adapter": "sonoran",
                    "mdt_id": MDT,
                    "guild_id": GUILD,
                    "signature": {"scheme": "body-key", "secret": "relay/sources/sonoran"},
                },
            },
        }
    )


class Prc:
    """PRC's API for one server: the game's players, or the answers (exceptions) a test queued."""

    def __init__(self) -> None:
        self.players: list[ErlcPlayer] = []
        # Answers queued by a test, before the game's own: an error PRC's client raises, or an answer.
        self.faults: list[Exception | PlayersAnswer] = []
        self.calls = 0
        # The server's emergency calls, as v2's `EmergencyCalls` lists them (None: the answer leaves the
        # list out).
        self.emergencies: list[ErlcCall] | None = []

    def answer(self) -> PlayersAnswer:
        self.calls += 1
        if self.faults:
            queued = self.faults.pop(0)
            if isinstance(queued, PlayersAnswer):
                return queued
            raise queued
        listed = None if self.emergencies is None else list(self.emergencies)
        return PlayersAnswer(list(self.players), "v2", calls=listed)

    def open_call(self, number: int, started_at: int | None, **fields: Any) -> ErlcCall:
        """A player dials 911 (or a responder answers: the call listed again with other fields)."""
        call = ErlcCall(number=number, started_at=started_at, **fields)
        self.end_call(number, started_at)
        assert self.emergencies is not None
        self.emergencies.append(call)
        return call

    def end_call(self, number: int, started_at: int | None) -> None:
        if self.emergencies is not None:
            self.emergencies = [
                c for c in self.emergencies if (c.number, c.started_at) != (number, started_at)
            ]

    def join(self, player_id: str, callsign: str, name: str, team: str = "Police") -> ErlcPlayer:
        player = ErlcPlayer(name=name, player_id=player_id, team=team, callsign=callsign)
        self.players = [p for p in self.players if p.player_id != player_id] + [player]
        return player

    def leave(self, player_id: str) -> None:
        self.players = [p for p in self.players if p.player_id != player_id]


class _Client:
    def __init__(self, prc: Prc) -> None:
        self.prc = prc

    def players(self) -> PlayersAnswer:
        return self.prc.answer()


class Night:
    def __init__(self, config: RelayConfig | None = None) -> None:
        self.config = config or night_config()
        self.consumer = EmergencyHarness()
        self.clock = self.consumer.clock  # the partner's clock too
        self.consumer.policy = UnitPolicy.from_config(self.config)
        self.prc = Prc()
        self.store = InMemorySourceStateStore(clock=self.clock)
        self.claims = InMemoryReplayGuard()
        self.secrets = StaticSecrets(
            {
                "relay/erlc/main": SERVER_KEY,
                "relay/sources/erlc": SENDER_PUBLIC_SPKI,
                "relay/sources/sonoran": "sonoran-key",
            }
        )
        self.queued: list[QueueMessage] = []
        self.lookups = OnDemandLookup(
            self.config.erlc.servers, self.store, self.claims, self.secrets, self._client, self.clock
        )
        self.ingress = IngressDeps(
            config=self.config,
            secrets=self.secrets,
            publisher=self,
            source_state=self.store,
            replay=self.claims,
            lookup=self.lookups,
        )
        self.poller = RosterPollDeps(
            store=self.store,
            publisher=self,
            secrets=self.secrets,
            make_client=self._client,
            clock=self.clock,
            sources=self.config.sources,
        )
        self._requests = 0
        self._messages = 0

    def _client(self, server: Any, key: str) -> _Client:
        return _Client(self.prc)

    # the queue
    def send(self, messages: Any, delay_seconds: int = 0) -> int:
        self.queued.extend(messages)
        return len(messages)

    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def poll(self) -> PollOutcome:
        return poll_server("main", self.config.erlc.servers["main"], self.poller)

    def command(self, player: ErlcPlayer | str, text: str, typed_ago: float = 0.0) -> Accepted:
        """`text` typed by `player` (`typed_ago` seconds ago), posted now as PRC's Event Webhook."""
        name, player_id = (
            (player.name, player.player_id) if isinstance(player, ErlcPlayer) else ("Civ", player)
        )
        typed = self.clock() - timedelta(seconds=typed_ago)
        body = {
            "Type": "CustomCommand",
            "Timestamp": typed.timestamp(),
            "Data": {"Player": f"{name}:{player_id}", "Command": text},
        }
        return self.post("erlc", body)

    def emergency_event(self, call: ErlcCall, kind: str = "EmergencyCall", **extra: Any) -> Accepted:
        """PRC's Event Webhook for an emergency call (its shape is unconfirmed: the wrapper's fields)."""
        data: dict[str, Any] = {
            "Team": call.team,
            "Caller": int(call.caller) if call.caller else None,
            "Players": [int(p) for p in call.responders],
            "Position": list(call.position),
            "StartedAt": call.started_at,
            "CallNumber": call.number,
            "Description": call.description,
            "PositionDescriptor": call.position_descriptor,
        }
        body = {"Type": kind, "Timestamp": self.clock().timestamp(), "Data": data | extra}
        return self.post("erlc", body)

    def post(self, source: str, body: dict[str, Any]) -> Accepted:
        self._requests += 1
        raw = json.dumps(body).encode()
        secret = self.secrets.get(self.config.sources[source].signature.secret)[-1]
        delivery = sign(
            self.config.sources[source].signature,
            raw,
            secret,
            now=self.clock(),
            private_key=SENDER_PRIVATE_HEX,
        )
        request = InboundRequest(
            source=source,
            headers=delivery.headers,
            body=delivery.body,
            received_at=self.clock(),
            request_id=f"req-{self._requests}",
        )
        return accept_webhook(request, self.ingress)

    def consume(self) -> set[str]:
        """Everything queued, to the consumer in one batch; the ids of the messages it gave back."""
        records = []
        for message in self.queued:
            self._messages += 1
            records.append(record(f"m{self._messages}", message))
        self.queued = []
        return self.consumer.run(*records) if records else set()

    @property
    def northca(self) -> MemoryNorthca:
        return self.consumer.northca

    def mdt_calls(self) -> list[dict[str, Any]]:
        """Every call the MDT holds (a second one under one id would show here)."""
        return [c for c in self.northca.calls if c["mdt"] == MDT]

    def mdt(self, unit_id: str) -> dict[str, Any]:
        return self.consumer.partner.unit(unit_id)

    def edit(self, unit_id: str, **fields: str) -> None:
        """A dispatcher's edit in Northca's UI."""
        self.consumer.partner.edit(unit_id, **fields)
