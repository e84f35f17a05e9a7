"""A game night on the ER:LC side, judged by what the dispatcher sees on the MDT (the consumer's own
rules run on everything queued): commands from players who just joined, the roster's answers that say
little, and the roster saying again what it said (tests/support/night.py)."""

from __future__ import annotations

from datetime import datetime

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from relay.erlc.lookup import claim_key
from relay.errors import ErlcOfflineError, ErlcRateLimitedError, ErlcUnavailableError
from relay.ports.erlc import ErlcPlayer
from tests.support.constants import MDT
from tests.support.night import Night


def test_night_a_player_who_joins_after_the_poll_and_types_at_once_ends_at_their_status() -> None:
    # Given a poll a moment before Lindqvist joins the game
    night = Night()
    night.poll()
    night.wait(20)
    lindqvist = night.prc.join("30", "1A-07", "Lindqvist_30")
    # When they type ;10-6 at once (the roster has never seen them)
    night.wait(1)
    accepted = night.command(lindqvist, ";10-6")
    # Then the webhook queued their unit (looked up now) and the command, and the MDT shows 10-6
    assert (accepted.changes, accepted.unit_ids) == (2, ("1A-07",))
    assert night.consume() == set()
    assert night.mdt("1A-07") == {**night.mdt("1A-07"), "status": "10-6", "officer_name": "Lindqvist_30"}
    # And the next poll says nothing new: the lookup's find is known
    night.wait(40)
    assert night.poll().result == "unchanged"
    assert night.queued == []


def test_night_a_command_during_a_429_hold_waits_for_the_poll_and_still_wins() -> None:
    # Given PRC answered the poll with a 429 (hold 90 s)
    night = Night()
    night.prc.faults.append(ErlcRateLimitedError("rate limited", retry_after=90, bucket="global"))
    assert night.poll().result == "rate-limited"
    # When a player joins and types during the hold
    night.wait(10)
    cop = night.prc.join("31", "1A-31", "Rossi")
    calls = night.prc.calls
    accepted = night.command(cop, ";10-6")
    # Then PRC is not asked (the hold is shared), the command is held, nothing is queued yet
    assert (night.prc.calls, accepted.changes, night.queued) == (calls, 0, [])
    # And the first poll after the hold sends the unit and the command: the MDT shows 10-6
    night.wait(90)
    outcome = night.poll()
    assert (outcome.result, outcome.changes) == ("changed", 2)
    night.consume()
    assert night.mdt("1A-31")["status"] == "10-6"


def test_night_a_lookup_that_meets_a_429_holds_the_poll_too() -> None:
    night = Night()
    night.poll()
    night.prc.faults.append(ErlcRateLimitedError("rate limited", retry_after=30, bucket="global"))
    cop = night.prc.join("32", "1A-32", "Kim")
    assert night.command(cop, ";10-97").changes == 0
    night.wait(10)
    assert night.poll().result == "held"
    night.wait(25)
    assert night.poll().changes == 2
    night.consume()
    assert night.mdt("1A-32")["status"] == "10-97"


def test_night_two_lookups_racing_make_one_call_and_lose_no_command() -> None:
    # Given two players who joined after the poll
    night = Night()
    night.poll()
    night.wait(5)
    a = night.prc.join("41", "1A-41", "Ash")
    b = night.prc.join("42", "1A-42", "Bea")
    # When both type in the same second, in two containers: the first looks the server up, and the
    # second reads the state before the first's writes land, then may not look up (the spacing claim)
    calls = night.prc.calls
    first = night.command(a, ";10-6")
    landing = night.store.get("roster#main", "lookup")
    night.store.delete("roster#main", "lookup")
    second = night.command(b, ";10-97")
    night.store.put("roster#main", "lookup", landing)
    assert night.prc.calls == calls + 1
    # Then the first's lookup announced both units, and the second's command is held, not lost
    assert (first.changes, second.changes) == (3, 0)
    night.consume()
    assert night.mdt("1A-42")["status"] == "10-8"
    # And the next poll sends it (Bea's unit came on duty a moment ago): the MDT ends at 10-97
    night.wait(55)
    assert night.poll().changes == 1
    night.consume()
    assert (night.mdt("1A-41")["status"], night.mdt("1A-42")["status"]) == ("10-6", "10-97")


def test_night_the_spacing_claim_is_one_per_server_for_a_few_seconds() -> None:
    night = Night()
    night.poll()
    cop = night.prc.join("43", "1A-43", "Cy")
    night.claims.remember(claim_key("main"), night.clock(), 5)  # another container's lookup, just now
    assert night.command(cop, ";10-6").changes == 0
    night.wait(6)
    assert night.command(cop, ";10-23", typed_ago=0).changes == 3  # the unit, and both commands
    night.consume()
    assert night.mdt("1A-43")["status"] == "10-23"


def test_night_a_civilian_typing_a_status_is_looked_up_and_changes_nothing() -> None:
    night = Night()
    night.poll()
    civ = night.prc.join("50", "", "Civ", team="Civilian")
    assert night.command(civ, ";10-8").changes == 0
    # Nothing is held for them: a later poll sends nothing
    night.wait(60)
    assert night.poll().result == "unchanged"


def test_night_a_held_command_expires_if_its_player_never_shows() -> None:
    night = Night()
    night.poll()
    night.prc.faults.append(ErlcUnavailableError("timeout"))
    night.command("51", ";10-6")  # PRC does not list them (yet): held
    night.wait(400)  # past hold_seconds (300)
    night.prc.join("51", "1A-51", "Late")
    night.poll()
    night.consume()
    # The unit comes on duty at the join's status: the stale command is gone
    assert night.mdt("1A-51")["status"] == "10-8"


# ------------------------------------------------------------------ the roster's answers that say little


def test_night_one_server_offline_answer_does_not_wipe_the_statuses_players_chose() -> None:
    night = Night()
    cops = [night.prc.join(str(n), f"1A-{n:02d}", f"Cop_{n}") for n in range(1, 40)]
    night.poll()
    night.consume()
    for cop in cops[:24]:
        night.command(cop, ";10-6")
    night.consume()
    # When one poll gets "server offline" (3002)
    night.wait(60)
    night.prc.faults.append(ErlcOfflineError("server offline", 422, 3002))
    assert night.poll().result == "offline"
    night.wait(60)
    night.poll()
    night.consume()
    # Then every status the players chose stands
    assert [night.mdt(c.callsign or "")["status"] for c in cops] == ["10-6"] * 24 + ["10-8"] * 15


# ------------------------------------------------------------------ saying again is not changing


def test_night_a_rejoin_does_not_revert_the_dispatchers_edits() -> None:
    night = Night()
    cop = night.prc.join("30", "1A-07", "Lindqvist_30")
    night.poll()
    night.consume()
    # Given the dispatcher renamed the unit and moved it to Traffic
    night.wait(30)
    night.edit("1A-07", officer_name="Sgt. Fixed Name", department="Traffic")
    # When the player leaves long enough to be gone, and rejoins
    night.prc.leave("30")
    for _ in range(2):
        night.wait(60)
        night.poll()
    night.consume()
    assert night.mdt("1A-07")["status"] == "10-7"
    night.prc.join("30", "1A-07", cop.name)
    night.wait(60)
    night.poll()
    night.consume()
    # Then the unit is on duty again, with the dispatcher's name and department
    assert night.mdt("1A-07") == {
        **night.mdt("1A-07"),
        "status": "10-8",
        "officer_name": "Sgt. Fixed Name",
        "department": "Traffic",
    }


def test_night_an_unreadable_stored_roster_re_announces_nothing_the_dispatcher_sees() -> None:
    night = Night()
    cop = night.prc.join("30", "1A-07", "Lindqvist_30")
    night.poll()
    night.consume()
    night.wait(10)
    night.command(cop, ";10-6")
    night.edit("1A-07", department="Traffic")
    night.consume()
    # When the stored roster is lost (an unreadable item), every player is a join again
    night.store.put("roster#main", "players", "garbage")
    night.wait(60)
    assert night.poll().changes == 1
    night.consume()
    # Then the MDT is as it was: the game said again what it said before
    assert (night.mdt("1A-07")["status"], night.mdt("1A-07")["department"]) == ("10-6", "Traffic")


def test_night_a_lookup_racing_the_schedule_is_absorbed() -> None:
    # Given a poll that read PRC just before a player joined, and wrote its roster after a lookup
    night = Night()
    night.poll()
    night.wait(30)
    cop = night.prc.join("60", "1A-60", "Dee")
    night.command(cop, ";10-6")
    night.consume()
    night.edit("1A-60", officer_name="Deputy Dee")
    # When the next poll finds the player as a join again (the lookup's find lost), and a
    # dispatcher's edit came in between
    night.store.delete("roster#main", "lookup")
    night.wait(30)
    assert night.poll().changes == 1
    night.consume()
    # Then the join said again changes nothing the dispatcher or the player set
    assert (night.mdt("1A-60")["status"], night.mdt("1A-60")["officer_name"]) == ("10-6", "Deputy Dee")


def test_night_a_command_held_while_the_poll_was_finding_the_player_is_sent_by_the_next_poll() -> None:
    # Given a player who joined; the poll finds them while their command is on its way, and the
    # command's container read the roster before the poll's write landed (and may not look up)
    night = Night()
    night.poll()
    night.wait(30)
    cop = night.prc.join("70", "1A-70", "Eve")
    before = night.store.get("roster#main", "players")
    night.poll()
    after = night.store.get("roster#main", "players")
    night.store.put("roster#main", "players", before)
    night.claims.remember(claim_key("main"), night.clock(), 5)
    assert night.command(cop, ";10-6").changes == 0
    night.store.put("roster#main", "players", after)
    night.consume()
    assert night.mdt("1A-70")["status"] == "10-8"
    # When the next poll runs, it looks for the held commands of the units the poll before found
    night.wait(60)
    assert night.poll().changes == 1
    night.consume()
    assert night.mdt("1A-70")["status"] == "10-6"
    # And only then: the poll after reads no held command at all
    night.wait(60)
    assert night.poll().result == "unchanged"


class StaleOnce:
    """A store whose first read of the roster gives what it held before (another writer's write lands
    right after that read)."""

    def __init__(self, store: object, stale: object) -> None:
        self.store, self.stale = store, stale

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def get(self, pk: str, sk: str) -> object:
        if sk == "players" and self.stale is not None:
            stale, self.stale = self.stale, None
            return stale
        return self.store.get(pk, sk)  # type: ignore[attr-defined]


def test_night_a_player_the_poll_found_between_the_two_reads_of_a_lookup_gets_their_command() -> None:
    night = Night()
    night.poll()
    night.wait(30)
    cop = night.prc.join("71", "1A-71", "Fay")
    before = night.store.get("roster#main", "players")
    night.poll()
    night.consume()
    night.ingress.source_state = StaleOnce(night.store, before)  # type: ignore[assignment]
    accepted = night.command(cop, ";10-97")
    assert accepted.changes == 1  # the command; the lookup found no one new
    night.consume()
    assert night.mdt("1A-71")["status"] == "10-97"


# ------------------------------------------------------------------ the game speaks with one voice about duty
# The consumer holds one source's off-duty status while another has the unit on duty; the roster
# (erlc:main) and the players' commands (erlc) are one voice, the game's, so neither holds the other.


def test_night_a_player_who_typed_a_status_then_left_goes_off_duty() -> None:
    night = Night()
    cop = night.prc.join("80", "1A-80", "Gus")
    night.poll()
    night.wait(10)
    night.command(cop, ";10-6")
    night.consume()
    night.prc.leave("80")
    for _ in range(2):
        night.wait(60)
        night.poll()
    night.consume()
    assert night.mdt("1A-80")["status"] == "10-7"


def test_night_a_player_who_types_10_7_in_game_goes_off_duty() -> None:
    night = Night()
    cop = night.prc.join("81", "1A-81", "Hal")
    night.poll()
    night.wait(10)
    night.command(cop, ";10-7")
    night.consume()
    assert night.mdt("1A-81")["status"] == "10-7"


# ------------------------------------------------------------------ a whole night, any order

CAST = [("1", "1A-01", "Ann"), ("2", "1A-02", "Bo"), ("3", "1A-03", "Cy")]
STEP = st.one_of(
    st.tuples(st.just("join"), st.integers(0, 2)),
    st.tuples(st.just("leave"), st.integers(0, 2)),
    st.tuples(st.just("type"), st.integers(0, 2), st.sampled_from(["10-6", "10-8", "10-23", "10-97"])),
    st.tuples(st.just("edit"), st.integers(0, 2), st.sampled_from(["officer_name", "department"])),
    st.tuples(st.just("glitch"), st.integers(0, 2)),  # PRC's next answer leaves out a player in game
    st.tuples(st.sampled_from(["poll", "offline", "failed", "429", "lose-roster", "consume"])),
)
OFFLINE_POLLS = 3  # [erlc.servers] offline_polls' default
ABSENT_POLLS = 2  # [erlc.servers] absent_polls' default
HOLD_SECONDS = 300  # [sources.erlc.options] hold_seconds' default
FAULTS = {
    "offline": lambda: ErlcOfflineError("server offline", 422, 3002),
    "failed": lambda: ErlcUnavailableError("timeout"),
    "429": lambda: ErlcRateLimitedError("rate limited", retry_after=30, bucket="global"),
}


class Model:
    """What the dispatcher should see, kept beside a Night the steps drive."""

    def __init__(self) -> None:
        self.night = Night()
        self.present: set[int] = set()
        self.steady: set[int] = set()  # listed by the last poll that answered, and in game since
        self.typed: dict[int, list[str]] = {}  # the statuses typed since the player last joined
        # when each player's first command not yet answered by a poll listing them was typed: held past
        # the source's hold_seconds, a command whose player no poll has listed yet may be dropped
        self.waiting_since: dict[int, datetime] = {}
        self.earlier: dict[int, set[str]] = {}  # those typed in an earlier stay
        self.edited: dict[tuple[int, str], str] = {}
        self.glitch: int | None = None  # the player the next poll's answer leaves out
        self.missed: dict[int, int] = {}  # answers in a row that left a player in game out
        # "server offline" answers in a row: offline_polls of them (3) end the night when the relay
        # knows anyone (from a poll or a lookup): the server shut down, every unit goes off duty
        self.offline_run = 0

    def step(self, step: tuple) -> None:
        night, kind = self.night, step[0]
        night.wait(7)
        if kind == "join" and step[1] not in self.present:
            night.prc.join(*CAST[step[1]])
            self.present.add(step[1])
            self.earlier.setdefault(step[1], set()).update(self.typed.pop(step[1], []))
            self.waiting_since.pop(step[1], None)
        elif kind == "leave" and step[1] in self.present:
            self.waiting_since.pop(step[1], None)
            night.prc.leave(CAST[step[1]][0])
            self.present.discard(step[1])
            self.steady.discard(step[1])
        elif kind == "type" and step[1] in self.present:
            player_id, _, name = CAST[step[1]]
            night.command(ErlcPlayer(name=name, player_id=player_id, team="Police"), f";{step[2]}")
            self.typed.setdefault(step[1], []).append(step[2])
            if step[1] not in self.steady:
                self.waiting_since.setdefault(step[1], night.clock())
        elif kind == "edit" and (MDT, CAST[step[1]][1]) in night.consumer.partner.units:
            value = f"Dispatcher's {step[2]} {len(self.edited)}"
            night.edit(CAST[step[1]][1], **{step[2]: value})
            self.edited[(step[1], step[2])] = value
        elif kind == "glitch":
            self.glitch = step[1]
        elif kind in ("poll", *FAULTS):
            self.poll(FAULTS[kind]() if kind in FAULTS else None)
        elif kind == "lose-roster":
            night.store.put("roster#main", "players", "garbage")
            self.offline_run = 0  # read back as a new, empty roster: its count starts again
        elif kind == "consume":
            self.consume()

    def poll(self, fault: Exception | None = None) -> None:
        night = self.night
        night.wait(53)
        if fault is not None:
            night.prc.faults.append(fault)
        game = list(night.prc.players)
        left_out = CAST[self.glitch][0] if self.glitch is not None and fault is None else None
        night.prc.players = [p for p in game if p.player_id != left_out]
        outcome = night.poll()
        result = outcome.result
        night.prc.players = game
        if result == "offline":
            self.offline_run += 1
            if outcome.changes:
                # The relay ended the night (units off duty): only ever at offline_polls in a row
                assert self.offline_run >= OFFLINE_POLLS, (self.offline_run, "the night ended too soon")
                # The night is over: whoever the game lists when it is back joins anew
                self.steady = set()
                for index in self.present:
                    self.earlier.setdefault(index, set()).update(self.typed.pop(index, []))
        if result in ("changed", "unchanged"):
            self.offline_run = 0
            self.glitch = None
            for index in self.present:
                self.missed[index] = self.missed.get(index, 0) + 1 if CAST[index][0] == left_out else 0
            for index in self.present:
                if self.missed[index] >= ABSENT_POLLS:
                    # Left out of absent_polls answers in a row: gone by the game's word; back, a new stay
                    self.earlier.setdefault(index, set()).update(self.typed.pop(index, []))
            listed = {index for index in self.present if CAST[index][0] != left_out}
            for index in listed:
                typed_at = self.waiting_since.pop(index, None)
                if typed_at is not None and (night.clock() - typed_at).total_seconds() >= HOLD_SECONDS:
                    # Held longer than hold_seconds (a lookup that could not ask PRC): it may be gone
                    self.earlier.setdefault(index, set()).update(self.typed.pop(index, []))
            # Left out of one answer, a player listed before is still in game: kept on duty
            self.steady = listed | {i for i in self.steady & self.present if self.missed[i] < 2}
        # The consumer runs all along: what a poll queues is written within seconds, not a minute later
        self.consume()

    def consume(self) -> None:
        self.night.consume()
        for index in self.steady:
            # A player the game lists, who has not left since, is never shown off duty
            assert self.night.mdt(CAST[index][1])["status"] != "10-7", (index, "shown off duty while in game")

    def settle(self) -> None:
        for _ in range(3):
            self.night.wait(7)
            self.poll()

    def check(self) -> None:
        for (index, name), value in self.edited.items():
            # A dispatcher's edit is never reverted by the game saying again what it said
            assert self.night.mdt(CAST[index][1])[name] == value, (index, name)
        for index in self.present:
            status = self.night.mdt(CAST[index][1])["status"]
            if self.typed.get(index):
                # A player's last command since they joined stands
                assert status == self.typed[index][-1], (index, self.typed[index])
            else:
                # On duty, or what they typed in an earlier stay if the relay never saw them gone
                assert status in {"10-8"} | self.earlier.get(index, set()), (index, status)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=1, max_size=30))
# Found by Hypothesis: three "offline" answers end the night (the model said the player was still in game)
@example(steps=[("join", 0), ("poll",), ("offline",), ("offline",), ("offline",)])
@example(steps=[("join", 0), ("type", 0, "10-6"), ("offline",), ("offline",), ("offline",)])  # a lookup's
@example(steps=[("join", 0), ("glitch", 0), ("type", 0, "10-6"), ("poll",), ("glitch", 0)])  # left out twice
@example(steps=[("join", 2), ("glitch", 2), ("429",), ("type", 2, "10-6"), *[("offline",)] * 3])  # held 5 min
def test_night_property_the_game_says_again_and_the_dispatcher_and_players_stand(steps: list[tuple]) -> None:
    model = Model()
    for step in steps:
        model.step(step)
    model.settle()
    model.check()
