"""Several sources, one unit: the game night's cases, as a dispatcher watching the MDT would judge them.

Sources here as relay.toml would make them: `sonoran` (a CAD: owns the officer's name and department,
reports state), `erlc:main` (the roster poller: the game's state), `erlc` (players' `;` commands:
events) and `form` (a form: events).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.config.loader import parse_config
from relay.consumer.policy import SourceKind, UnitPolicy, canonical_id
from tests.support.constants import GUILD, MDT, NOW
from tests.support.consumer import CONSUMER_START, Harness, change, message, record

KINDS = {
    "sonoran": SourceKind(profile_rank=3, reports_state=True),
    "erlc": SourceKind(profile_rank=0, reports_state=False),
    "form": SourceKind(profile_rank=2, reports_state=False),
}


def policy(**units: object) -> UnitPolicy:
    data = {
        "northca": {"partner_key_secret": "k"},
        "erlc": {"servers": {"main": {"server_key_secret": "e", "mdt_id": MDT, "guild_id": GUILD}}},
        "units": units,
    }
    return UnitPolicy.from_config(parse_config(data), KINDS)


def harness(**units: object) -> Harness:
    h = Harness()
    h.policy = policy(**units)
    return h


def send(h: Harness, name: str, source: str, unit: str, seconds: int, **fields: str | None) -> set[str]:
    """One webhook from `source` about `unit`, its event `seconds` after NOW (received then), consumed."""
    return h.run(
        record(name, message(name, change(unit, seconds, **fields), source=source, received=seconds))
    )


# ------------------------------------------------------------------ one officer, two spellings


def test_sources_1a07_and_1A07_are_one_unit_written_as_the_partner_spells_it() -> None:
    # Given the game's roster wrote 1A-07
    h = harness()
    send(h, "w1", "erlc:main", "1A-07", 1, officer_name="Rossi_RBX", status="10-8")
    # When the CAD speaks of 1a-07
    send(h, "w2", "sonoran", "1a-07", 2, department="LSPD")
    # Then the MDT holds one unit, spelled as it already was, with both sources' fields
    assert sorted(uid for (_, uid) in h.partner.units) == ["1A-07"]
    assert h.partner.unit("1A-07")["department"] == "LSPD"
    assert h.partner.violations == []


def test_sources_two_spellings_in_one_batch_are_one_put_of_one_unit() -> None:
    h = harness()
    records = [
        record("m1", message("w1", change("1a-07", 1, department="LSPD"), source="sonoran")),
        record("m2", message("w2", change(" 1A-07 ", 2, status="10-8"), source="erlc:main")),
    ]
    assert h.run(*records) == set()
    [put] = h.partner.puts()
    assert put["id"] == "1A-07"  # the newest change's spelling (trimmed), the partner holding none
    assert (put["department"], put["status"]) == ("LSPD", "10-8")


def test_sources_exact_ids_keep_the_two_spellings_apart() -> None:
    h = harness(ids="exact")
    send(h, "w1", "erlc:main", "1A-07", 1, status="10-8")
    send(h, "w2", "sonoran", "1a-07", 2, status="10-6")
    assert sorted(uid for (_, uid) in h.partner.units) == ["1A-07", "1a-07"]


def test_sources_the_canonical_form_folds_case_unicode_and_blanks_only() -> None:
    assert canonical_id("adam-12") == canonical_id("ADAM-12") == "ADAM-12"
    assert canonical_id("Caf\u00e9-1") == canonical_id("Cafe\u0301-1")  # NFC and NFD
    assert canonical_id("1A  07") == canonical_id("1a 07")
    assert canonical_id("1A-07") != canonical_id("1A07")
    assert canonical_id(" 1a-07 ", "exact") == "1a-07"


# ------------------------------------------------------------------ who owns a field


def test_sources_the_cads_name_and_department_stand_over_a_newer_roster_announcement() -> None:
    # Given the CAD logged the officer in as Sgt Rossi of LSPD
    h = harness()
    send(h, "w1", "sonoran", "1A-07", 1, officer_name="Sgt Rossi", department="LSPD", status="10-8")
    # When the game's roster announces the player later, with the Roblox name and the game's team
    send(h, "w2", "erlc:main", "1A-07", 30, officer_name="Rossi_RBX", department="Patrol", status="10-8")
    # Then the MDT keeps the CAD's name and department, and says why
    assert h.partner.unit("1A-07")["officer_name"] == "Sgt Rossi"
    assert h.partner.unit("1A-07")["department"] == "LSPD"
    assert h.outcome.counts(1)["FieldsSuperseded"] == 0
    # And a later change of the CAD's own is written
    send(h, "w3", "sonoran", "1A-07", 40, officer_name="Lt Rossi")
    assert h.partner.unit("1A-07")["officer_name"] == "Lt Rossi"


def test_sources_the_roster_fills_a_field_the_cad_never_set() -> None:
    h = harness()
    send(h, "w1", "sonoran", "1A-07", 1, department="LSPD")
    send(h, "w2", "erlc:main", "1A-07", 30, officer_name="Rossi_RBX", department="Patrol")
    assert h.partner.unit("1A-07")["officer_name"] == "Rossi_RBX"
    assert h.partner.unit("1A-07")["department"] == "LSPD"


def test_sources_an_admin_can_give_a_field_to_the_game() -> None:
    h = harness(owners={"officer_name": ["erlc:main"]})
    send(h, "w1", "sonoran", "1A-07", 1, officer_name="Sgt Rossi")
    send(h, "w2", "erlc:main", "1A-07", 30, officer_name="Rossi_RBX")
    assert h.partner.unit("1A-07")["officer_name"] == "Rossi_RBX"


def test_sources_status_has_no_owner_by_default_the_newest_wins() -> None:
    h = harness()
    send(h, "w1", "sonoran", "1A-07", 1, status="10-8")
    send(h, "w2", "erlc", "1A-07", 30, status="10-6")
    assert h.partner.unit("1A-07")["status"] == "10-6"


def test_sources_a_dispatchers_edit_still_wins_over_an_owner_when_newer() -> None:
    h = harness()
    send(h, "w1", "sonoran", "1A-07", 1, officer_name="Sgt Rossi")
    h.partner.edit("1A-07", officer_name="Sgt. Fixed Name")
    h.clock.advance(1)
    # An older CAD change (redelivered late) does not revert the dispatcher
    send(h, "w1b", "sonoran", "1A-07", 2, officer_name="Sgt Rossi (old)")
    assert h.partner.unit("1A-07")["officer_name"] == "Sgt. Fixed Name"


# ------------------------------------------------------------------ saying again is not changing


def test_sources_a_rejoin_does_not_revert_the_dispatchers_edits() -> None:
    # Given the roster announced Lindqvist_30 of Patrol, and a dispatcher fixed the name and department
    h = harness()
    send(h, "w1", "erlc:main", "2B-30", 1, officer_name="Lindqvist_30", department="Patrol", status="10-8")
    h.partner.edit("2B-30", officer_name="Sgt. Fixed Name", department="Traffic")
    h.clock.advance(1)
    # When the player leaves and rejoins: the roster says 10-7, then everything again, dated now
    send(h, "w2", "erlc:main", "2B-30", CONSUMER_START + 10, status="10-7")
    now = CONSUMER_START + 20
    send(h, "w3", "erlc:main", "2B-30", now, officer_name="Lindqvist_30", department="Patrol", status="10-8")
    # Then the dispatcher's name and department stand; the status the game changed is written
    unit = h.partner.unit("2B-30")
    assert (unit["officer_name"], unit["department"], unit["status"]) == (
        "Sgt. Fixed Name",
        "Traffic",
        "10-8",
    )


def test_sources_a_cad_snapshot_sent_again_does_not_revert_a_dispatchers_status() -> None:
    h = harness()
    send(h, "w1", "sonoran", "C-1", 1, status="10-8")
    h.partner.edit("C-1", status="10-6")
    h.clock.advance(1)
    send(h, "w2", "sonoran", "C-1", CONSUMER_START + 30, status="10-8")
    assert h.partner.unit("C-1")["status"] == "10-6"
    # And when the CAD's status really changes, it is written
    send(h, "w3", "sonoran", "C-1", CONSUMER_START + 40, status="10-97")
    assert h.partner.unit("C-1")["status"] == "10-97"


def test_sources_a_player_typing_the_same_command_again_means_it() -> None:
    h = harness()
    send(h, "w1", "erlc", "2B-30", 1, status="10-8")
    h.partner.edit("2B-30", status="10-6")
    h.clock.advance(1)
    send(h, "w2", "erlc", "2B-30", CONSUMER_START + 30, status="10-8")
    assert h.partner.unit("2B-30")["status"] == "10-8"


# ------------------------------------------------------------------ duty as the sources together say it


def test_sources_a_cad_logout_does_not_send_an_in_game_officer_off_duty() -> None:
    # Given the game has the player on duty and the CAD logged them in
    h = harness()
    send(h, "w1", "erlc:main", "1A-07", 1, status="10-8")
    send(h, "w2", "sonoran", "1A-07", 2, status="10-8")
    # When the CAD logs them out
    send(h, "w3", "sonoran", "1A-07", 3, status="10-7")
    # Then they stay on duty, and the outcome line says why
    assert h.partner.unit("1A-07")["status"] == "10-8"
    # And when the game says they left, they go off duty
    send(h, "w4", "erlc:main", "1A-07", 4, status="10-7")
    assert h.partner.unit("1A-07")["status"] == "10-7"


def test_sources_the_logout_and_the_games_status_in_one_batch() -> None:
    h = harness()
    records = [
        record("m1", message("w1", change("1A-07", 1, status="10-6"), source="erlc")),
        record("m2", message("w2", change("1A-07", 2, status="10-7"), source="sonoran")),
    ]
    assert h.run(*records) == set()
    assert h.partner.unit("1A-07")["status"] == "10-6"


def test_sources_an_on_duty_heard_long_ago_no_longer_holds_the_unit() -> None:
    h = harness(duty_memory_hours=1)
    send(h, "w1", "erlc:main", "1A-07", 1, status="10-8")
    h.clock.advance(2 * 3600)
    send(h, "w2", "sonoran", "1A-07", 2 * 3600, status="10-7")
    assert h.partner.unit("1A-07")["status"] == "10-7"


def test_sources_one_source_alone_goes_off_duty_as_before() -> None:
    h = harness()
    send(h, "w1", "sonoran", "1A-07", 1, status="10-8")
    send(h, "w2", "sonoran", "1A-07", 2, status="10-7")
    assert h.partner.unit("1A-07")["status"] == "10-7"


def test_sources_the_memory_of_each_source_survives_across_invocations_and_stays_bounded() -> None:
    h = harness()
    for index, source in enumerate(["erlc:main", "sonoran", "erlc", "form", "other-1", "other-2"]):
        send(h, f"w{index}", source, "1A-07", index + 1, status="10-8")
    heard = h.stored("1A-07").field("status").heard
    assert [entry.source for entry in heard] == ["erlc", "form", "other-1", "other-2"]
    assert heard[-1].last_at == heard[-1].at
    assert all(entry.at.tzinfo is not None for entry in heard)
    assert heard[0].at - heard[-1].at == timedelta(seconds=-3)


# ------------------------------------------------------------------ any order, any batching


RANKED = {"cad": 3, "form": 2, "erlc": 0}


def delivered(
    message_id: str, webhook: str, source: str, name: str, value: str, seconds: int
) -> dict[str, Any]:
    body = message(webhook, change("U-1", seconds, **{name: value}), source=source, received=seconds)
    return record(message_id, body)


EVENT = st.tuples(
    # Event times before the consumer runs (it starts a minute after NOW): every webhook is about the past.
    st.sampled_from(sorted(RANKED)),
    st.sampled_from(["officer_name", "status"]),
    st.integers(0, 55),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(EVENT, min_size=1, max_size=12),
    order=st.randoms(use_true_random=False),
    cuts=st.lists(st.integers(1, 4), min_size=12, max_size=12),
    edits=st.lists(st.tuples(st.integers(0, 6), st.sampled_from(["officer_name", "status"])), max_size=3),
    duplicates=st.lists(st.integers(0, 11), max_size=4),
)
def test_sources_property_owners_and_other_writers_converge_whatever_the_order(
    events: list[tuple[str, str, int]],
    order: Any,
    cuts: list[int],
    edits: list[tuple[int, str]],
    duplicates: list[int],
) -> None:
    # Given sources of three ranks (no repeats: each value is said once), a dispatcher editing between
    # batches, and the webhooks delivered in any order, some twice, in batches of any size
    h = Harness()
    h.policy = UnitPolicy(sources={s: SourceKind(r, False) for s, r in RANKED.items()})
    changes = [
        (f"w{i}", source, name, f"{source}-{i}", seconds) for i, (source, name, seconds) in enumerate(events)
    ]
    deliveries = changes + [changes[i] for i in duplicates if i < len(changes)]
    order.shuffle(deliveries)
    dispatcher: dict[str, tuple[str, float]] = {}
    batch, position = 0, 0
    while position < len(deliveries):
        size = cuts[batch % len(cuts)]
        part = deliveries[position : position + size]
        records = [delivered(f"m{position + k}", *one) for k, one in enumerate(part)]
        assert h.run(*records) == set()
        for at_batch, name in edits:
            if at_batch == batch and (MDT, "U-1") in h.partner.units:
                value = f"D{batch}-{name}"
                h.partner.edit("U-1", **{name: value})
                dispatcher[name] = (value, (h.clock() - NOW).total_seconds())
        position += size
        batch += 1
    # Then each field holds the owners' newest value, unless the dispatcher edited it since (an edit made
    # after the webhooks' events is newer than all of them: it stands)
    for name in ("officer_name", "status"):
        said = [(c[1], c[3], c[4], c[0]) for c in changes if c[2] == name]
        if not said:
            continue
        ranks = RANKED if name == "officer_name" else dict.fromkeys(RANKED, 0)
        # by rank, then event time, then (same time: received together) the delivery id, as the merge does
        winner = max(said, key=lambda s: (ranks[s[0]], s[2], s[3]))
        expected = winner[1]
        if name in dispatcher:
            assert dispatcher[name][1] > winner[2]
            expected = dispatcher[name][0]
        assert h.partner.unit("U-1")[name] == expected, (name, said, dispatcher)
    assert h.partner.violations == []


# ------------------------------------------------------------------ one voice per game


def voiced() -> Harness:
    h = Harness()
    kinds = KINDS | {"erlc": SourceKind(profile_rank=0, reports_state=False, voice="erlc:main")}
    h.policy = UnitPolicy.from_config(
        parse_config(
            {
                "northca": {"partner_key_secret": "k"},
                "erlc": {"servers": {"main": {"server_key_secret": "e", "mdt_id": MDT, "guild_id": GUILD}}},
            }
        ),
        kinds,
    )
    return h


def test_sources_a_players_own_10_7_is_not_held_by_the_roster_of_the_same_game() -> None:
    h = voiced()
    send(h, "w1", "erlc:main", "1A-81", 1, status="10-8")
    send(h, "w2", "erlc", "1A-81", 2, status="10-7")
    assert h.partner.unit("1A-81")["status"] == "10-7"


def test_sources_a_player_who_typed_a_status_then_left_goes_off_duty() -> None:
    h = voiced()
    send(h, "w1", "erlc:main", "1A-80", 1, status="10-8")
    send(h, "w2", "erlc", "1A-80", 2, status="10-6")
    send(h, "w3", "erlc:main", "1A-80", 3, status="10-7")
    assert h.partner.unit("1A-80")["status"] == "10-7"


def test_sources_the_game_in_one_voice_still_holds_another_voices_logout() -> None:
    h = voiced()
    send(h, "w1", "sonoran", "1A-82", 1, status="10-8")
    send(h, "w2", "erlc:main", "1A-82", 2, status="10-8")
    send(h, "w3", "erlc", "1A-82", 3, status="10-6")
    send(h, "w4", "sonoran", "1A-82", 4, status="10-7")
    assert h.partner.unit("1A-82")["status"] == "10-6"


def test_sources_saying_a_value_twice_in_one_batch_is_dated_when_it_was_first_said() -> None:
    # Given, in one batch, the roster's 10-8, then a player's 10-6, then the roster's 10-8 again (a
    # re-announcement: a lost stored roster, a rejoin within the batch)
    h = voiced()
    records = [
        record("m1", message("w1", change("1A-83", 1, status="10-8"), source="erlc:main", received=1)),
        record("m2", message("w2", change("1A-83", 2, status="10-6"), source="erlc", received=2)),
        record("m3", message("w3", change("1A-83", 3, status="10-8"), source="erlc:main", received=3)),
    ]
    assert h.run(*records) == set()
    # Then the roster's 10-8 counts from when it first said it: the player's later command stands
    assert h.partner.unit("1A-83")["status"] == "10-6"
    assert h.stored("1A-83").field("status").heard_from("erlc:main").at == NOW + timedelta(seconds=1)


def test_sources_a_repeat_arriving_before_its_first_saying_in_a_batch_is_dated_the_same() -> None:
    h = voiced()
    records = [
        record("m3", message("w3", change("1A-84", 3, status="10-8"), source="erlc:main", received=3)),
        record("m2", message("w2", change("1A-84", 2, status="10-6"), source="erlc", received=2)),
        record("m1", message("w1", change("1A-84", 1, status="10-8"), source="erlc:main", received=1)),
    ]
    assert h.run(*records) == set()
    assert h.partner.unit("1A-84")["status"] == "10-6"
