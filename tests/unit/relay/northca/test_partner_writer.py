"""The partner key's life cycle: a rotation list is read newest last, and a refused key is not the end."""

from __future__ import annotations

from typing import Any

import pytest

from relay.errors import NorthcaAuthError, NorthcaForbiddenError
from relay.memory import StaticSecrets
from relay.northca.writer import PartnerWriter
from relay.ports.partner import UnitRecord, UpsertAnswer

SECRET = "northca/partner-key"


class KeyCheckingClient:
    """A client whose partner accepts only the keys in `accepted` (and records every key it was sent)."""

    sent: list[str]
    accepted: set[str]
    refusal: type[NorthcaAuthError | NorthcaForbiddenError] = NorthcaAuthError

    def __init__(self, key: str) -> None:
        self.partner_key = key

    def upsert_units(self, mdt: str, guild: str, units: Any, actor: str | None = None) -> UpsertAnswer:
        self.sent.append(self.partner_key)
        if self.partner_key not in self.accepted:
            raise self.refusal("Unauthorized", 401 if self.refusal is NorthcaAuthError else 403)
        return UpsertAnswer(frozenset(u.unit_id for u in units))


def writer_for(value: str | list[str], accepted: set[str]) -> tuple[PartnerWriter, StaticSecrets, list[str]]:
    sent: list[str] = []
    client = type("Client", (KeyCheckingClient,), {"sent": sent, "accepted": accepted})
    secrets = StaticSecrets({SECRET: value})
    return PartnerWriter(secrets, SECRET, client), secrets, sent


def test_partner_writer_sends_the_newest_key_of_a_rotation_list() -> None:
    # Given the documented rotation list ["OLD", "NEW"] and a partner that already takes NEW
    writer, secrets, sent = writer_for(["OLD", "NEW"], {"NEW"})
    # When a PUT is made / Then it carries NEW, with no extra fetch
    writer.upsert_units("mdt", "guild", [UnitRecord("A", {})])
    assert sent == ["NEW"]
    assert secrets.fetches == [(SECRET, False)]


def test_partner_writer_refused_tries_the_other_keys_newest_first_before_failing() -> None:
    # Given a partner that does not take NEW yet (the operator rotated ahead of the partner)
    writer, secrets, sent = writer_for(["OLD", "NEW"], {"OLD"})
    # When a PUT is made / Then the list is fetched again and each key tried, newest first: OLD works
    writer.upsert_units("mdt", "guild", [UnitRecord("A", {})])
    assert sent == ["NEW", "NEW", "OLD"]
    assert secrets.fetches == [(SECRET, False), (SECRET, True)]
    # And the key that worked is kept for the next call
    writer.upsert_units("mdt", "guild", [UnitRecord("B", {})])
    assert sent[-1] == "OLD"


@pytest.mark.parametrize("refusal", [NorthcaAuthError, NorthcaForbiddenError])
def test_partner_writer_refused_by_every_key_raises_after_one_fresh_fetch(
    refusal: type[NorthcaAuthError | NorthcaForbiddenError],
) -> None:
    writer, secrets, sent = writer_for(["OLD", "NEW"], set())
    type(writer.client()).refusal = refusal
    with pytest.raises(refusal):
        writer.upsert_units("mdt", "guild", [UnitRecord("A", {})])
    assert sent == ["NEW", "NEW", "OLD"]
    assert [fetch for fetch in secrets.fetches if fetch[1]] == [(SECRET, True)]


def test_partner_writer_an_empty_secret_is_an_auth_error() -> None:
    writer, _, sent = writer_for([], {"NEW"})
    with pytest.raises(NorthcaAuthError, match="holds no partner key"):
        writer.upsert_units("mdt", "guild", [UnitRecord("A", {})])
    assert sent == []
