"""A secret a partner echoes never reaches a log line, an error or a terminal: redacted whatever its
letter case, and before any text is cut short (a cut through the secret would leave a piece that no
longer matches it). Issue 20, item 2."""

from __future__ import annotations

import json
from typing import Any

import pytest

from relay.alerts.webhook import DiscordWebhook
from relay.config.loader import parse_config
from relay.erlc.client import ErlcClient
from relay.errors import DiscordError, ErlcError, NorthcaAuthError, NorthcaError
from relay.models import redact
from relay.northca.client import NorthcaClient
from relay_devtools.operations.partner_checks import partner_checks
from tests.support.data import base_config_data
from tests.support.partner_http import CannedPool, refusing

KEY = "pk_live_0123456789abcdefGHIJ"


def echoes() -> dict[str, Any]:
    """Ways a partner might quote the key it refused."""
    return {
        "verbatim": lambda key: f"key {key} is not known",
        "upper-cased": lambda key: f"KEY {key.upper()} IS NOT KNOWN",
        "lower-cased": lambda key: f"key {key.lower()} is not known",
        "across-the-500-cut": lambda key: "x" * (500 - len(key) // 2) + key,
        "across-the-200-cut": lambda key: "x" * (200 - len(key) // 2) + key,
        "at-the-end-of-a-long-text": lambda key: "y" * 10_000 + key,
    }


def test_redact_ignores_letter_case() -> None:
    assert redact(f"a {KEY.upper()} b {KEY}", KEY) == "a *** b ***"
    assert redact("x" * 10 + KEY, KEY)[:12] == "x" * 10 + "**"
    # Short secrets are not redacted (every "a" of a text would be): as before
    assert redact("a b c", "a") == "a b c"


@pytest.mark.parametrize("echo", echoes().values(), ids=echoes().keys())
def test_the_partner_client_never_carries_the_key_it_was_refused(echo: Any) -> None:
    client = NorthcaClient("http://partner.invalid/v1", KEY, pool=refusing(echo))  # type: ignore[arg-type]
    with pytest.raises(NorthcaAuthError) as caught:
        client.list_units("mdt", "guild")
    shown = caught.value.message
    assert KEY.lower() not in shown.lower()
    assert KEY[:10].lower() not in shown.lower()
    assert len(shown) <= 500


@pytest.mark.parametrize("echo", echoes().values(), ids=echoes().keys())
def test_the_erlc_client_never_carries_the_server_key_it_was_refused(echo: Any) -> None:
    pool = CannedPool(403, lambda headers: {"code": 2002, "message": echo(headers["server-key"])})
    client = ErlcClient("http://erlc.invalid", KEY, pool=pool)  # type: ignore[arg-type]
    with pytest.raises(ErlcError) as caught:
        client.players()
    shown = str(caught.value)
    assert KEY[:10].lower() not in shown.lower()


@pytest.mark.parametrize(
    "echo",
    [
        lambda path: f"Unknown Webhook {path.upper()}",
        lambda path: "z" * (300 - len(path) // 2) + path,
    ],
    ids=["upper-cased", "across-the-300-cut"],
)
def test_the_discord_client_never_carries_the_webhook_token(echo: Any) -> None:
    url = "https://discord.com/api/webhooks/123456789012345678/TokenPart-abcdefGHIJKL0123456789"
    path = "/api/webhooks/123456789012345678/TokenPart-abcdefGHIJKL0123456789"
    webhook = DiscordWebhook(url)
    with pytest.raises(DiscordError) as caught:
        webhook._check(404, json.dumps({"message": echo(path)}).encode(), None)
    assert "tokenpart-abcdef" not in str(caught.value).lower()


class EchoingListClient:
    """A client whose list call fails with the key in its text (as a careless partner's would)."""

    partner_key = KEY

    def list_units(self, mdt_id: str, guild_id: str) -> Any:
        raise NorthcaError(f"bad gateway: upstream said {KEY.upper()}\x1b[2J")


def test_doctor_never_prints_the_partner_key_whatever_the_partners_text() -> None:
    checks = partner_checks(parse_config(base_config_data()), EchoingListClient(), "http://partner.invalid")
    assert all(KEY.lower() not in check.line().lower() for check in checks)
    assert all("\x1b" not in check.line() for check in checks)
