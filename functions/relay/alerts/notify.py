"""The notifier's flow: each record of the alarm topic's event posted to the Discord webhook whose URL is
held in Secrets Manager.

The secret's value is the webhook URL, or a JSON array of URLs while rotating (oldest first, newest
last). The newest is used; if Discord says the webhook is gone or its token wrong (401/403/404), the
secret is read again and every other URL tried, newest first, before giving up. Any other failure is
raised as it is: the handler lets Lambda retry the event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from relay.alerts.discord import discord_message, summary
from relay.errors import DiscordRefusedError, InvalidWebhookUrlError
from relay.observability import logger
from relay.ports.alerts import Webhook
from relay.ports.secrets import SecretsSource


@dataclass
class NotifierDeps:
    secrets: SecretsSource
    secret_name: str
    make_webhook: Callable[[str], Webhook]


def _post_with_rotation(payload: Mapping[str, Any], deps: NotifierDeps) -> None:
    urls = deps.secrets.get(deps.secret_name)
    if not urls:
        raise InvalidWebhookUrlError(f"secret {deps.secret_name} is empty")
    try:
        deps.make_webhook(urls[-1]).post(payload)
        return
    except DiscordRefusedError as exc:
        if not exc.webhook_refused():
            raise
        refused = exc
    tried = {urls[-1]}
    for url in reversed(deps.secrets.get(deps.secret_name, force_fetch=True)):
        if url in tried:
            continue
        tried.add(url)
        try:
            deps.make_webhook(url).post(payload)
        except InvalidWebhookUrlError:
            continue  # an older value that is no URL: the refusal above stays the answer
        except DiscordRefusedError as exc:
            if not exc.webhook_refused():
                raise
            refused = exc
            continue
        logger.info("posted with another URL of the webhook secret", extra={"secret": deps.secret_name})
        return
    raise refused


def notify(records: Iterable[Mapping[str, Any]], deps: NotifierDeps) -> list[str]:
    """Post every record (SNS hands Lambda one per event); returns each post's one-line summary."""
    posted = []
    for record in records:
        payload = discord_message(record)
        _post_with_rotation(payload, deps)
        logger.info("alarm posted to Discord", extra={"summary": summary(payload)})
        posted.append(summary(payload))
    return posted
