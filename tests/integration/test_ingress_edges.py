"""The ingress's log lines at the edges (issue 20, item 2): a url-token never logged, whatever path it
came in; an unknown source's name bounded in every line; a replay answered and logged under what was
signed, never under an unsigned id a replayer may have changed."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from relay.observability import logger
from relay_devtools.local.apigw import api_gateway_v2_event
from tests.support.data import scheme_config_data, secret_of
from tests.support.ingress import Stack, event, signed

TOKEN = secret_of("snaily")
# The longest name a log line names of a source the config does not have.
MAX_LOGGED_SOURCE = 64


@pytest.fixture
def config_data() -> dict[str, Any]:
    data = scheme_config_data()
    cad = data["sources"]["cad"]
    # relay.toml's own-bot example: a signed timestamp, and a delivery id header the signature does not cover
    data["sources"]["own-bot"] = {
        **cad,
        "signature": {**data["sources"]["script"]["signature"], "delivery_id_header": "X-Delivery-Id"},
    }
    return data


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield buffer
    logger.removeHandler(handler)


def records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def post(path: str, body: bytes = b"{}", headers: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    return api_gateway_v2_event("POST", path, "", headers or [], body, "203.0.113.9")


@pytest.mark.parametrize(
    "path",
    [
        f"/hooks/snaily/{TOKEN}/",
        f"/hooks/snaily/{TOKEN}//",
        f"/hooks/snaily/{TOKEN}/extra",
        f"/hooks/snaily//{TOKEN}",
        f"/hooks//snaily/{TOKEN}",
        f"/hooks/snaily/{TOKEN}\n",
        f"//hooks/snaily/{TOKEN}",
        f"/HOOKS/snaily/{TOKEN}",
        f"/hooks/{TOKEN}/",
    ],
    ids=[
        "trailing-slash",
        "two-slashes",
        "extra-segment",
        "empty-segment",
        "empty-source",
        "newline",
        "leading-slashes",
        "upper-case-prefix",
        "token-as-source",
    ],
)
def test_ingress_a_url_token_on_a_path_no_route_matches_is_never_logged(
    stack: Stack, log_lines: io.StringIO, path: str
) -> None:
    # When a sender posts its url-token on a path that is not quite a route
    status, _ = stack.invoke(post(path))
    # Then it is a 404, and no line holds the token: the line names the route's shape, not the path
    assert status == 404
    assert TOKEN not in log_lines.getvalue()
    [line] = [r for r in records(log_lines) if r["message"] == "no such route"]
    assert "route" in line and "path" not in line


def test_ingress_the_route_line_still_tells_the_operator_what_was_wrong(
    stack: Stack, log_lines: io.StringIO
) -> None:
    stack.invoke(post(f"/hooks/snaily/{TOKEN}/"))
    [line] = [r for r in records(log_lines) if r["message"] == "no such route"]
    # A configured source is named; every other segment is a placeholder with its length
    assert line["route"] == f"/hooks/snaily/<{len(TOKEN)} characters>/"


@pytest.mark.parametrize(
    "name",
    ["x" * 60_000, "\x1b[31m" + "y" * 300, "%1B%5B2J" * 100],
    ids=["60k-name", "escape-sequence", "percent-encoded-escapes"],
)
def test_ingress_an_unknown_sources_name_is_bounded_in_every_line(
    stack: Stack, log_lines: io.StringIO, name: str
) -> None:
    status, answer = stack.invoke(post(f"/hooks/{name}"))
    assert status == 404
    assert len(json.dumps(answer)) < 200
    lines = records(log_lines)
    assert lines
    for line in lines:
        for value in line.values():
            if isinstance(value, str) and value.startswith(name[:8]):
                assert len(value) <= MAX_LOGGED_SOURCE + 20, line
        assert name not in json.dumps(line, ensure_ascii=False)
    assert len(log_lines.getvalue()) < 4_000


def test_ingress_a_replay_answers_and_logs_under_what_was_signed(
    stack: Stack, log_lines: io.StringIO
) -> None:
    # Given an own-bot delivery (signed timestamp + body, unsigned X-Delivery-Id), queued
    delivery = signed(stack.config, "own-bot", secret=secret_of("script"), delivery_id="delivery-1")
    assert stack.invoke(event("own-bot", delivery))[0] == 202
    log_lines.seek(0)
    log_lines.truncate()
    # When someone resends it with an unsigned id of their own (an escape sequence, say)
    forged = "\x1b[2Jforged-id"
    status, answer = stack.invoke(event("own-bot", delivery, headers={"x-delivery-id": forged}))
    # Then it is a replay, and neither the answer nor any line adopts the unsigned id
    assert (status, answer["data"]["replayed"]) == (200, True)
    assert "forged-id" not in json.dumps(answer)
    assert "forged-id" not in log_lines.getvalue()
    [line] = [r for r in records(log_lines) if r["message"] == "webhook replayed: already queued"]
    assert line["webhook_id"] == answer["data"]["webhook_id"]
    assert line["webhook_id"].startswith("sha256:")


def test_ingress_a_senders_own_redelivery_is_still_named_by_its_id(stack: Stack) -> None:
    # A GitHub redelivery (same id, same body) is recognised with its id: the id is part of what matched
    delivery = signed(stack.config, "github", delivery_id="gh-7")
    assert stack.invoke(event("github", delivery))[0] == 202
    status, answer = stack.invoke(event("github", delivery))
    assert status == 200
    assert answer["data"]["webhook_id"].startswith("gh-7#sha256:")
