"""body-key (Sonoran's `key` in the body) and url-token (a secret path segment), on the pure verifier."""

from __future__ import annotations

from typing import Any

import pytest

from relay.config.schema import BodyKeySignature, UrlTokenSignature
from relay.errors import UnusableSecretError, VerificationError
from relay.ingress.signatures import SignedRequest, verify_signature
from tests.support.constants import NOW

BODY_KEY = BodyKeySignature(scheme="body-key", secret="relay/sources/sonoran")
URL_TOKEN = UrlTokenSignature(scheme="url-token", secret="relay/sources/snailycad")
KEY = "sonoran-community-api-key"
TOKEN = "kq3J0vZs1mQfW1hY3b7cR1x2y9u8t7s6"


def open_body(payload: dict[str, Any], secrets: list[str] | None = None) -> dict[str, Any]:
    verified = verify_signature(BODY_KEY, SignedRequest(b"", {}, NOW), secrets or [KEY])
    assert not verified.complete  # the raw bytes settle nothing: the parsed body must be checked
    return verified.open_payload(payload)


def test_body_key_a_matching_key_is_removed_before_the_adapter_sees_the_payload() -> None:
    payload = {"key": KEY, "type": "EVENT_UNIT_STATUS", "data": [{"identIds": 1, "status": 2}]}
    assert open_body(payload) == {"type": "EVENT_UNIT_STATUS", "data": [{"identIds": 1, "status": 2}]}


def test_body_key_field_name_is_configurable() -> None:
    config = BodyKeySignature(scheme="body-key", secret="s", field="apiKey")
    verified = verify_signature(config, SignedRequest(b"", {}, NOW), [KEY])
    assert verified.open_payload({"apiKey": KEY, "key": "kept"}) == {"key": "kept"}


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ({"type": "EVENT_UNIT_STATUS"}, "missing"),
        ({"key": None}, "missing"),
        ({"key": ""}, "malformed"),
        ({"key": 12345}, "malformed"),
        ({"key": [KEY]}, "malformed"),
        ({"key": {"value": KEY}}, "malformed"),
        ({"key": KEY + " "}, "mismatch"),
        ({"key": KEY[:-1]}, "mismatch"),
        ({"key": KEY.upper()}, "mismatch"),
        ({"key": "another-community's-key"}, "mismatch"),
    ],
)
def test_body_key_wrong_missing_and_malformed_keys(payload: dict[str, Any], kind: str) -> None:
    with pytest.raises(VerificationError) as caught:
        open_body(payload)
    assert caught.value.kind == kind


def test_body_key_rotation_accepts_old_and_new() -> None:
    assert open_body({"key": "old-key", "x": 1}, ["new-key", "old-key"]) == {"x": 1}
    with pytest.raises(VerificationError):
        open_body({"key": "old-key"}, ["new-key"])


def test_body_key_empty_secret_is_unusable() -> None:
    with pytest.raises(UnusableSecretError):
        verify_signature(BODY_KEY, SignedRequest(b"", {}, NOW), [" "])


def test_url_token_matching_token_is_accepted() -> None:
    assert verify_signature(URL_TOKEN, SignedRequest(b"{}", {}, NOW, path_token=TOKEN), [TOKEN]).complete


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        (None, "missing"),
        ("", "missing"),
        (TOKEN[:-1], "mismatch"),
        (TOKEN + "x", "mismatch"),
        (TOKEN.upper(), "mismatch"),
        ("x" * 5000, "malformed"),
    ],
)
def test_url_token_wrong_and_missing_tokens(token: str | None, kind: str) -> None:
    with pytest.raises(VerificationError) as caught:
        verify_signature(URL_TOKEN, SignedRequest(b"{}", {}, NOW, path_token=token), [TOKEN])
    assert caught.value.kind == kind


def test_url_token_rotation() -> None:
    request = SignedRequest(b"{}", {}, NOW, path_token="old")
    assert verify_signature(URL_TOKEN, request, ["new", "old"])
    with pytest.raises(VerificationError):
        verify_signature(URL_TOKEN, request, ["new"])
