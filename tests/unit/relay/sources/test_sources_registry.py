"""A sender is one module and one registry line: its kind carries what the tools and the suites need,
and these tests fail when a registered sender lacks any of it (docs page, samples, example source,
signature, delivery id). Mapping every sample with its example source is
tests/unit/repo/test_sources_docs.py's."""

from __future__ import annotations

import pytest

from relay.config.loader import load_config
from relay.config.schema import SignatureConfig
from relay.sources.registry import KINDS, adapter_kind
from tests.support.adapters import SAMPLES as HOSTILE_SAMPLES
from tests.support.constants import ROOT

EXAMPLES = ROOT / "docs" / "sources" / "examples.toml"
SCHEMES = {"standard-webhooks", "hmac-sha256", "ed25519", "body-key", "url-token"}
# What a kind may say of how its sender signs: the settings a sender fixes (the secret is the operator's).
SIGNATURE_KEYS = {"scheme", "header", "prefix", "encoding"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_registry_each_sender_has_a_docs_page_and_samples_that_exist(kind: str) -> None:
    sender = adapter_kind(kind).sender
    assert (ROOT / sender.docs).is_file(), sender.docs
    assert sender.samples, kind
    for sample in (*sender.samples, *sender.sample_rosters.values()):
        assert (ROOT / "events" / sample).is_file(), sample


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_registry_each_sender_is_configured_in_the_examples_as_its_kind_says_it_signs(kind: str) -> None:
    sender = adapter_kind(kind).sender
    source = load_config(EXAMPLES).sources[sender.example_source]
    assert source.adapter == kind
    assert set(sender.signature) <= SIGNATURE_KEYS
    if sender.signature:
        assert sender.signature["scheme"] in SCHEMES
        assert_signs_as(source.signature, sender.signature)
    if sender.delivery_id_required:
        assert sender.delivery_id_path is not None
        assert source.delivery_id_path == sender.delivery_id_path


def assert_signs_as(configured: SignatureConfig, expected: dict[str, str] | object) -> None:
    assert isinstance(expected, dict)
    for key, value in expected.items():
        actual = getattr(configured, key)
        assert (actual.lower() if key == "header" else actual) == value, key


def test_registry_every_kind_has_a_hostile_value_sample() -> None:
    # tests/support/adapters.py places hostile values where each sender puts its time and its id.
    assert set(HOSTILE_SAMPLES) == set(KINDS)


def test_registry_no_two_kinds_share_an_example_source() -> None:
    examples = [adapter_kind(kind).sender.example_source for kind in KINDS]
    assert len(set(examples)) == len(examples)
