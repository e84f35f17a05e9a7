"""The evening in real time against a running relay: each planned record is done at its moment (the
webhooks from a pool of threads, so a slow answer never delays the next player), and kept as it
happened: the wall-clock moment, the relay's answers, whether an edit found its unit.

The ER:LC outages: PRC's "server offline" answer and a 429 go through the ER:LC emulator's
`/_emulator/faults` route when it has one. An older emulator has none: the 429 is then made by
spending the server key's rate-limit bucket (the relay's next polls get PRC's real 429), and the
offline answer is approximated by an empty player list for one poll (`Outage.how` says which)."""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from relay_devtools.gamenight import rules
from relay_devtools.gamenight.client import RelayClient, erlc_player
from relay_devtools.gamenight.mdt import parse_time
from relay_devtools.gamenight.records import (
    CadEvent,
    Delivery,
    Edit,
    GameChange,
    Outage,
    PartnerFault,
    Record,
    Typed,
)
from relay_devtools.webhooks.signing import SignedDelivery

ROSTER_PATH_V1 = "/v1/server/players"
RATE_LIMIT_SECONDS = 40.0


def reads_roster(path: str) -> bool:
    """A request of the relay that reads the server's players: v1's list, or v2's server with
    `Players=true` whatever else it asks for (the poll also reads `EmergencyCalls`, in any order)."""
    route, _, query = path.partition("?")
    if route == ROSTER_PATH_V1:
        return True
    return route == "/v2/server" and "Players=true" in query.split("&")


class Game:
    """The server's players as the game has them, and what the emulator serves (empty while an
    approximated outage lasts)."""

    def __init__(self, client: RelayClient) -> None:
        self.client = client
        self.players: dict[str, dict[str, Any]] = {}
        self.dark = False
        self.lock = threading.Lock()

    def change(self, change: GameChange) -> None:
        with self.lock:
            if change.team is None:
                self.players.pop(change.user_id, None)
            else:
                self.players[change.user_id] = erlc_player(
                    change.name, change.user_id, change.team, change.callsign
                )
            if not self.dark:
                self.client.set_players(list(self.players.values()))

    def go_dark(self) -> None:
        with self.lock:
            self.dark = True
            self.client.set_players([])

    def come_back(self) -> None:
        with self.lock:
            self.dark = False
            self.client.set_players(list(self.players.values()))


class Driver:
    def __init__(
        self,
        client: RelayClient,
        poll_seconds: float,
        log: Callable[[str], None] = print,
        *,
        fault_routes: bool = True,
    ) -> None:
        # fault_routes=False: the ER:LC faults made as for an emulator without its fault route, so
        # that a newer relay is measured exactly as an older one was.
        self.client, self.poll_seconds, self.log, self.fault_routes = client, poll_seconds, log, fault_routes
        self.game = Game(client)
        self.done: list[Record] = []
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=12, thread_name_prefix="gamenight")
        self.futures: list[Future[None]] = []
        self.start = 0.0

    def keep(self, record: Record) -> None:
        with self.lock:
            self.done.append(record)

    def run(self, plan: list[Record]) -> list[Record]:
        """Do the plan; returns the records as they happened (absolute times)."""
        self.start = time.time()
        steps: list[tuple[float, Callable[[], None]]] = []
        for record in plan:
            steps.extend(self.steps(record))
        steps.sort(key=lambda s: s[0])
        for offset, step in steps:
            delay = self.start + offset - time.time()
            if delay > 0:
                time.sleep(delay)
            self.futures.append(self.pool.submit(step))
        for future in self.futures:
            future.result()
        self.pool.shutdown()
        return sorted(self.done, key=lambda r: r.at)

    def steps(self, record: Record) -> list[tuple[float, Callable[[], None]]]:
        if isinstance(record, Typed):
            return self.typed_steps(record)
        if isinstance(record, GameChange):
            return [(record.at, lambda: self.game_change(record))]
        if isinstance(record, CadEvent):
            return [(record.at, lambda: self.cad(record))]
        if isinstance(record, Edit):
            return [(record.at, lambda: self.edit(record))]
        if isinstance(record, PartnerFault):
            return [(record.at, lambda: self.partner_fault(record))]
        return [(record.at, lambda: self.outage(record))]

    # ------------------------------------------------------------ the steps

    def game_change(self, change: GameChange) -> None:
        at = time.time()
        self.game.change(change)
        self.keep(dataclasses.replace(change, at=at))

    def typed_steps(self, typed: Typed) -> list[tuple[float, Callable[[], None]]]:
        typed_at = float(int(self.start + typed.at))
        answers: list[Delivery] = []
        first: list[SignedDelivery] = []
        remaining = [len(typed.sends)]

        def send(planned: Delivery) -> None:
            now = time.time()
            if planned.kind == "resend" and first:
                delivery = first[0]
            else:
                delivery = self.client.sign_command(typed_at, typed.name, typed.user_id, typed.text, now)
                if planned.kind == "first":
                    first.append(delivery)
            status = self.client.post(rules.ERLC_SOURCE, delivery)
            with self.lock:
                answers.append(Delivery(now, planned.kind, status))
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                sends = tuple(sorted(answers, key=lambda d: d.at))
                self.keep(dataclasses.replace(typed, at=typed_at, sends=sends))

        return [(d.at, functools.partial(send, d)) for d in typed.sends]

    def cad(self, event: CadEvent) -> None:
        at = time.time()
        status = self.client.send_cad(event)
        self.keep(dataclasses.replace(event, at=at, status=status))

    def edit(self, edit: Edit) -> None:
        listed = [u for u in self.client.units() if rules.canonical_id(str(u.get("id", ""))) == edit.unit]
        listed.sort(key=lambda u: str(u.get("updated_at", "")), reverse=True)
        if not listed:
            self.keep(dataclasses.replace(edit, at=time.time(), applied=False))
            self.log(f"edit of {edit.unit} skipped: not on the MDT")
            return
        unit_id = str(listed[0]["id"])
        stored = self.client.edit(unit_id, edit.fields)
        at = time.time()
        if stored is not None and isinstance(stored.get("updated_at"), str):
            at = parse_time(stored["updated_at"])
        self.keep(dataclasses.replace(edit, at=at, unit_id=unit_id, applied=stored is not None))

    def partner_fault(self, fault: PartnerFault) -> None:
        status = self.client.partner_fault(fault.spec)
        self.keep(dataclasses.replace(fault, at=time.time(), spec={**fault.spec, "answer": status}))

    def outage(self, outage: Outage) -> None:
        at = time.time()
        if outage.kind == "rate-limit":
            if self.fault_routes and self.client.erlc_fault(
                {"kind": "rate_limited", "seconds": RATE_LIMIT_SECONDS}
            ):
                how = f"the emulator's rate_limited fault ({RATE_LIMIT_SECONDS:.0f} s of 429)"
            else:
                seconds = self.client.empty_bucket(lambda: self.next_poll() + 3)
                how = f"the server key's bucket spent: 429 for {seconds:.0f} s (no fault route used)"
        elif self.fault_routes and self.client.erlc_fault({"kind": "offline", "count": 1}):
            how = "the emulator's offline fault (422, code 3002) for one request"
        else:
            how = "approximated: an empty player list for one poll (no fault route used)"
            self.one_empty_poll()
        self.keep(dataclasses.replace(outage, at=at, how=how))

    def one_empty_poll(self) -> None:
        polls = self.poll_count()
        self.game.go_dark()
        deadline = time.time() + 3 * self.poll_seconds + 60
        while self.poll_count() == polls and time.time() < deadline:
            time.sleep(0.2)
        self.game.come_back()

    def polls(self) -> list[float]:
        return [
            float(r.get("at", 0))
            for r in self.client.erlc_requests()
            if reads_roster(str(r.get("path", ""))) and r.get("key_sent")
        ]

    def poll_count(self) -> int:
        return len(self.polls())

    def next_poll(self) -> float:
        """When the relay's next roster poll is due (the last one plus the period)."""
        return max(self.polls(), default=time.time()) + self.poll_seconds
