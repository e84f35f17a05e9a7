"""The notifier handler wired from its environment (secret in moto) posting to a Discord stand-in over
real loopback HTTP: what Discord receives, and what a 429, a 5xx, a redirect, a timeout or a dead port
do. The webhook URL's token never shows in a log line, a metric or an error."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from relay.alerts.webhook import DiscordWebhook
from relay.errors import DiscordRateLimitedError, DiscordRefusedError, DiscordUnavailableError
from relay.handlers import notifier
from relay.observability import logger
from relay_devtools.emulators.loopback import LoopbackServer, Reply, Request
from tests.support.alerts import WEBHOOK_PATH, WEBHOOK_SECRET, WEBHOOK_TOKEN, alarm_event

CREATED = {"id": "1", "type": 0, "content": "**ALARM**: northca-relay-consumer-errors", "embeds": []}


@dataclass
class Discord:
    """Discord's Execute Webhook, stood in for: answers from `script` in turn (then 200), records requests."""

    script: list[Callable[[Request], Reply | None]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def __call__(self, request: Request) -> Reply | None:
        self.requests.append(request)
        if self.script:
            return self.script.pop(0)(request)
        return Reply.json(200, CREATED)


@pytest.fixture
def discord() -> Iterator[tuple[Discord, str]]:
    service = Discord()
    server = LoopbackServer(("127.0.0.1", 0), service)
    url = server.start("discord-stand-in") + WEBHOOK_PATH
    yield service, url
    server.stop()


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Sets the webhook secret's value in moto; the notifier finds it through its environment."""
    monkeypatch.setenv("DISCORD_WEBHOOK_SECRET", WEBHOOK_SECRET)
    with mock_aws():
        client = boto3.client("secretsmanager")

        def put(value: str) -> None:
            try:
                client.put_secret_value(SecretId=WEBHOOK_SECRET, SecretString=value)
            except client.exceptions.ResourceNotFoundException:
                client.create_secret(Name=WEBHOOK_SECRET, SecretString=value)

        yield put


@pytest.fixture
def output(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], tuple[list[dict[str, Any]], str]]]:
    """(log records, everything logged and printed) so far: the logger's JSON lines and the EMF metrics."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)

    def read() -> tuple[list[dict[str, Any]], str]:
        logged = buffer.getvalue()
        return [json.loads(line) for line in logged.splitlines()], logged + capsys.readouterr().out

    yield read
    logger.removeHandler(handler)


def test_notifier_posts_the_alarm_to_the_webhook(discord, secret, lambda_context, output) -> None:
    service, url = discord
    secret(url)
    answer = notifier.lambda_handler(alarm_event(), lambda_context)
    assert answer == {"posted": 1}
    [request] = service.requests
    assert (request.method, request.path) == ("POST", WEBHOOK_PATH + "?wait=true")
    assert request.headers["content-type"] == "application/json"
    payload = json.loads(request.body)
    assert payload["content"] == "**ALARM**: northca-relay-consumer-errors"
    assert payload["allowed_mentions"] == {"parse": []}
    assert payload["embeds"][0]["title"] == "ALARM: northca-relay-consumer-errors"
    logs, printed = output()
    assert [log["message"] for log in logs] == ["alarm posted to Discord"]
    assert '"AlarmNotificationsPosted"' in printed
    assert WEBHOOK_TOKEN not in printed


@pytest.mark.parametrize(
    ("reply", "error", "status"),
    [
        (
            Reply.json(429, {"message": "You are being rate limited.", "retry_after": 1.5, "global": False}),
            DiscordRateLimitedError,
            429,
        ),
        (Reply.json(503, {"message": "upstream connect error"}), DiscordUnavailableError, 503),
        (Reply(500, b"<html>oops</html>", content_type="text/html"), DiscordUnavailableError, 500),
    ],
)
def test_notifier_a_throttled_or_failing_discord_is_logged_and_raised_for_lambda_to_retry(
    discord, secret, lambda_context, output, reply: Reply, error: type[Exception], status: int
) -> None:
    service, url = discord
    service.script = [lambda _: reply]
    secret(url)
    with pytest.raises(error) as caught:
        notifier.lambda_handler(alarm_event(), lambda_context)
    assert caught.value.status == status  # type: ignore[attr-defined]
    if isinstance(caught.value, DiscordRateLimitedError):
        assert caught.value.retry_after == 1.5
    assert len(service.requests) == 1  # one attempt: the retries are Lambda's
    logs, printed = output()
    [log] = logs
    assert (log["level"], log["message"], log["status"]) == (
        "WARNING",
        "alarm not posted to Discord, Lambda retries the event",
        status,
    )
    assert '"AlarmNotificationsFailed"' in printed
    assert WEBHOOK_TOKEN not in printed + str(caught.value)


def test_notifier_a_deleted_webhook_falls_back_to_the_secrets_other_url(
    discord, secret, lambda_context
) -> None:
    service, url = discord
    old = url.replace(WEBHOOK_TOKEN, "previous-token")
    service.script = [lambda _: Reply.json(404, {"message": "Unknown Webhook", "code": 10015})]
    secret(json.dumps([old, url]))
    assert notifier.lambda_handler(alarm_event(), lambda_context) == {"posted": 1}
    assert [r.path.split("/")[-1] for r in service.requests] == [
        f"{WEBHOOK_TOKEN}?wait=true",
        "previous-token?wait=true",
    ]


def test_notifier_a_redirect_is_not_followed(discord, secret, lambda_context, output) -> None:
    # A redirect would carry the token to whatever host it names.
    elsewhere = Discord()
    other = LoopbackServer(("127.0.0.1", 0), elsewhere)
    target = other.start("elsewhere") + "/collect"
    try:
        service, url = discord
        service.script = [lambda _: Reply(302, headers=(("Location", target),))]
        secret(url)
        with pytest.raises(DiscordRefusedError) as caught:
            notifier.lambda_handler(alarm_event(), lambda_context)
    finally:
        other.stop()
    assert caught.value.status == 302
    assert elsewhere.requests == []
    assert WEBHOOK_TOKEN not in output()[1]


def test_notifier_a_slow_discord_times_out(discord) -> None:
    service, url = discord
    release = threading.Event()

    def stall(_: Request) -> Reply:
        release.wait(10)
        return Reply.json(200, CREATED)

    service.script = [stall]
    try:
        with pytest.raises(DiscordUnavailableError, match="timed out") as caught:
            DiscordWebhook(url, connect_timeout=1, read_timeout=0.2).post({"content": "x"})
    finally:
        release.set()
    assert WEBHOOK_TOKEN not in str(caught.value)


def test_notifier_an_unreachable_discord_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    with pytest.raises(DiscordUnavailableError, match="could not connect") as caught:
        DiscordWebhook(url, connect_timeout=1, read_timeout=1).post({"content": "x"})
    assert WEBHOOK_TOKEN not in str(caught.value)


def test_notifier_a_huge_answer_is_not_read_whole(discord) -> None:
    service, url = discord
    service.script = [lambda _: Reply(400, b'{"message": "' + b"x" * 5_000_000 + b'"}')]
    with pytest.raises(DiscordRefusedError) as caught:
        DiscordWebhook(url).post({"content": "x"})
    assert caught.value.status == 400
    assert len(caught.value.message) <= 300


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_notifier_without_its_secret_name_fails_at_wiring(monkeypatch, lambda_context) -> None:
    monkeypatch.delenv("DISCORD_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ValueError, match="DISCORD_WEBHOOK_SECRET"):
        notifier.lambda_handler(alarm_event(), lambda_context)
