"""The notifier's flow without a network: the webhook URL checks, redaction, and which URL of the secret
is used (relay.alerts.webhook, relay.alerts.notify)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from relay.alerts.notify import NotifierDeps, notify
from relay.alerts.webhook import REDACTED, redact, webhook_url
from relay.errors import DiscordRefusedError, DiscordUnavailableError, InvalidWebhookUrlError
from relay.memory import StaticSecrets
from tests.support.alerts import WEBHOOK_PATH, WEBHOOK_SECRET, WEBHOOK_TOKEN, alarm_event

URL = f"https://discord.com{WEBHOOK_PATH}"
OLD_URL = "https://discord.com/api/webhooks/1234567890/old-token"


def test_alerts_webhook_url_waits_for_discords_confirmation() -> None:
    assert webhook_url(URL) == URL + "?wait=true"
    assert webhook_url(URL + "?thread_id=42&wait=false") == URL + "?thread_id=42&wait=true"
    assert webhook_url("http://127.0.0.1:8080/api/webhooks/1/t").startswith("http://127.0.0.1:8080/")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "discord.com/api/webhooks/1/t",
        "http://discord.com/api/webhooks/1/t",  # the token would cross the network in clear
        "ftp://discord.com/api/webhooks/1/t",
        "https://discord.com",
        "https://[::1",
    ],
)
def test_alerts_webhook_url_refuses_what_is_not_an_https_webhook(value: str) -> None:
    with pytest.raises(InvalidWebhookUrlError) as caught:
        webhook_url(value)
    assert not value or value not in caught.value.message


def test_alerts_redact_takes_out_the_url_and_its_token() -> None:
    text = f"POST {URL}?wait=true failed; path {WEBHOOK_PATH}"
    redacted = redact(text, URL)
    assert WEBHOOK_TOKEN not in redacted
    assert REDACTED in redacted


class FakeWebhooks:
    """make_webhook for tests: each URL answers from a script (None = created); records the URLs used."""

    def __init__(self, answers: Mapping[str, Exception | None]) -> None:
        self.answers = dict(answers)
        self.posts: list[tuple[str, Mapping[str, Any]]] = []

    def __call__(self, url: str) -> FakeWebhooks.Hook:
        webhook_url(url)  # the real checks
        return FakeWebhooks.Hook(self, url)

    class Hook:
        def __init__(self, owner: FakeWebhooks, url: str) -> None:
            self.owner, self.url = owner, url

        def post(self, payload: Mapping[str, Any]) -> None:
            self.owner.posts.append((self.url, payload))
            answer = self.owner.answers.get(self.url)
            if answer is not None:
                raise answer


def deps(secret: str | list[str], hooks: FakeWebhooks) -> tuple[NotifierDeps, StaticSecrets]:
    secrets = StaticSecrets({WEBHOOK_SECRET: secret})
    return NotifierDeps(secrets=secrets, secret_name=WEBHOOK_SECRET, make_webhook=hooks), secrets


def test_alerts_notify_posts_each_record_to_the_newest_url() -> None:
    hooks = FakeWebhooks({})
    notifier, secrets = deps([OLD_URL, URL], hooks)
    posted = notify(alarm_event()["Records"] * 2, notifier)
    assert posted == ["**ALARM**: northca-relay-consumer-errors"] * 2
    assert [url for url, _ in hooks.posts] == [URL, URL]
    assert secrets.fetches == [(WEBHOOK_SECRET, False)] * 2


def test_alerts_a_refused_webhook_is_retried_with_the_secrets_other_urls() -> None:
    # The newest URL's webhook was deleted; the rotation list still holds a working one.
    hooks = FakeWebhooks({URL: DiscordRefusedError("HTTP 404: Unknown Webhook", 404)})
    notifier, secrets = deps([OLD_URL, URL], hooks)
    notify(alarm_event()["Records"], notifier)
    assert [url for url, _ in hooks.posts] == [URL, OLD_URL]
    assert secrets.fetches == [(WEBHOOK_SECRET, False), (WEBHOOK_SECRET, True)]


def test_alerts_when_every_url_is_refused_the_refusal_is_raised() -> None:
    hooks = FakeWebhooks(
        {
            URL: DiscordRefusedError("HTTP 401: Invalid Webhook Token", 401),
            OLD_URL: DiscordRefusedError("HTTP 404: Unknown Webhook", 404),
        }
    )
    notifier, _ = deps([OLD_URL, "not a url", URL], hooks)
    with pytest.raises(DiscordRefusedError) as caught:
        notify(alarm_event()["Records"], notifier)
    assert caught.value.status == 404
    assert [url for url, _ in hooks.posts] == [URL, OLD_URL]


@pytest.mark.parametrize(
    "error",
    [
        DiscordRefusedError("HTTP 400: Invalid Form Body", 400),  # the payload: another URL will not help
        DiscordUnavailableError("HTTP 502", 502),
    ],
)
def test_alerts_other_failures_are_raised_at_once(error: Exception) -> None:
    hooks = FakeWebhooks({URL: error})
    notifier, secrets = deps([OLD_URL, URL], hooks)
    with pytest.raises(type(error)):
        notify(alarm_event()["Records"], notifier)
    assert [url for url, _ in hooks.posts] == [URL]
    assert secrets.fetches == [(WEBHOOK_SECRET, False)]


def test_alerts_an_empty_secret_is_a_configuration_error() -> None:
    notifier, _ = deps([], FakeWebhooks({}))
    with pytest.raises(InvalidWebhookUrlError, match="is empty"):
        notify(alarm_event()["Records"], notifier)
