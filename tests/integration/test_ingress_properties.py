"""Hypothesis through the real handler (1,000 examples each, with moto): arbitrary requests never give
a 5xx, nothing is queued unless the request is authentic, and authentic arbitrary JSON sent to a
source of every adapter kind is queued, ignored or refused with a 422, never a 5xx. The pure
verify + parse path has its own properties in tests/unit/relay/ingress/test_signatures_properties.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.config.loader import load_config, parse_config
from relay.ingress.pipeline import IngressDeps
from relay.memory import InMemorySourceStateStore
from relay.sources.registry import KINDS, adapter_kind
from relay_devtools.local.apigw import api_gateway_v2_event
from relay_devtools.local.lambda_context import LocalLambdaContext
from tests.support.aws import relay_aws
from tests.support.constants import GUILD, MDT, ROOT
from tests.support.data import SCHEME_SOURCES, scheme_config_data, secret_of
from tests.support.ingress import Stack, event, signed

HANDLER = settings(
    max_examples=1000,
    deadline=None,
    # The only function-scoped fixture is the autouse one clearing Powertools' cache: harmless to share.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REFUSALS = {401, 404, 413, 415, 422}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with relay_aws() as aws:
        yield Stack(parse_config(scheme_config_data()), aws, LocalLambdaContext(function_name="ingress"))


header_names = st.sampled_from(
    [
        "content-type",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "svix-id",
        "svix-timestamp",
        "svix-signature",
        "x-hub-signature-256",
        "x-github-delivery",
        "typeform-signature",
        "tally-signature",
        "x-relay-signature",
        "x-relay-timestamp",
        "x-signature-ed25519",
        "x-signature-timestamp",
    ]
) | st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30)
header_values = st.text(st.characters(exclude_categories=["Cs"]), max_size=300) | st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "v1,", "sha256=", "1795867200", ""]
)
paths = st.one_of(
    st.sampled_from([*SCHEME_SOURCES, "nope"]).map(lambda s: f"/hooks/{s}"),
    st.tuples(
        st.sampled_from(SCHEME_SOURCES),
        st.text(
            st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#"),
            min_size=1,
            max_size=40,
        ),
    ).map(lambda pair: f"/hooks/{pair[0]}/{pair[1]}"),
)


@HANDLER
@given(
    path=paths,
    body=st.binary(max_size=2048) | st.text(max_size=500).map(str.encode),
    headers=st.lists(st.tuples(header_names, header_values), max_size=8),
)
def test_ingress_property_arbitrary_requests_are_refused_with_a_4xx(
    stack: Stack, path: str, body: bytes, headers: list[tuple[str, str]]
) -> None:
    # Given any request at all / When the handler gets it
    status, answer = stack.invoke(api_gateway_v2_event("POST", path, "", headers, body, "203.0.113.9"))
    # Then it is refused with a 4xx in the envelope, and nothing is queued
    assert status in REFUSALS, answer
    assert answer["ok"] is False
    assert stack.taken() == []


json_bodies = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=20,
).map(lambda value: json.dumps(value).encode())
unit_bodies = st.fixed_dictionaries(
    {
        "units": st.lists(
            st.fixed_dictionaries(
                {"id": st.text(max_size=70)},
                optional={"status": st.text(max_size=300) | st.none() | st.integers()},
            ),
            max_size=3,
        )
    }
).map(lambda value: json.dumps(value).encode())


@HANDLER
@given(
    source=st.sampled_from([s for s in SCHEME_SOURCES if s != "sonoran"]),
    body=st.binary(max_size=512) | json_bodies | unit_bodies,
)
def test_ingress_property_authentic_arbitrary_bodies_are_queued_or_refused_with_422(
    stack: Stack, source: str, body: bytes
) -> None:
    # Given any body, correctly signed (or tokened) for its source
    delivery = signed(stack.config, source, body, delivery_id=None)
    status, answer = stack.invoke(event(source, delivery))
    queued = stack.taken()
    # Then it is queued (202), a replay of an earlier example (200), or refused as unreadable (422)
    assert status in {200, 202, 422}, answer
    assert (len(queued) > 0) == (status == 202 and answer["data"]["changes"] > 0)


# Every registered kind, with the options of its example source (docs/sources/examples.toml).
ADAPTER_SOURCES = {
    kind: load_config(ROOT / "docs" / "sources" / "examples.toml")
    .sources[adapter_kind(kind).sender.example_source]
    .options
    for kind in KINDS
}
# Keys the adapters look for, so the generated bodies reach past their first check.
ADAPTER_KEYS = st.sampled_from(
    [
        *("type", "data", "units", "id", "unit", "Type", "Data", "Command", "Player", "embeds", "fields"),
        *("answers", "form_response", "eventType", "status", "identIds", "identId", "callsign", "name"),
        *("value", "title", "response", "label", "definition", "Timestamp", "at", "officer_name", "Event"),
        *("Payload", "Message"),
    ]
)
adapter_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(ADAPTER_KEYS | st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=25,
)


@pytest.fixture(scope="module")
def every_adapter(stack: Stack) -> tuple[Stack, IngressDeps]:
    data = scheme_config_data()
    cad, token = data["sources"]["cad"], data["sources"]["snaily"]["signature"]
    for adapter, options in ADAPTER_SOURCES.items():
        data["sources"][f"any-{adapter}"] = {
            **cad,
            "adapter": adapter,
            "signature": token,
            "options": options,
        }
    data["erlc"] = {
        "servers": {"main": {"server_key_secret": "relay/erlc/main", "mdt_id": MDT, "guild_id": GUILD}}
    }
    adapters = Stack(parse_config(data), stack.aws, stack.lambda_context)
    deps = adapters.deps()
    deps.source_state = InMemorySourceStateStore(clock=adapters.clock)
    return adapters, deps


@HANDLER
@given(
    adapter=st.sampled_from(list(ADAPTER_SOURCES)),
    payload=st.dictionaries(ADAPTER_KEYS, adapter_json, max_size=4),
)
def test_ingress_property_every_adapter_answers_authentic_arbitrary_json_without_a_5xx(
    every_adapter: tuple[Stack, IngressDeps], adapter: str, payload: dict[str, Any]
) -> None:
    # Given any JSON object, authentic for a source of each adapter kind (state in memory)
    stack, deps = every_adapter
    source = f"any-{adapter}"
    delivery = signed(stack.config, source, json.dumps(payload).encode(), secret=secret_of("snaily"))
    # When the handler gets it / Then it is queued, ignored, a replay, or a 422 that says why
    status, answer = stack.invoke(event(source, delivery), deps=deps)
    assert status in {200, 202, 422}, answer
    stack.taken()
