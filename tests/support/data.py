"""Test data: the base relay config, the real-shaped events in events/, and the multi-scheme sources."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.constants import ACTOR, CAD_SECRET, EVENTS, GUILD, MDT


def base_config_data() -> dict[str, Any]:
    return {
        "northca": {"base_url": "https://api.northca.dev/v1", "partner_key_secret": "northca/partner-key"},
        "sources": {
            "cad": {
                "adapter": "units",
                "mdt_id": MDT,
                "guild_id": GUILD,
                "actor": ACTOR,
                "signature": {"scheme": "standard-webhooks", "secret": "relay/sources/cad"},
            }
        },
    }


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


# ------------------------------------------------------------------ one source per signature scheme

ERLC_PUBLIC_KEY = "MCowBQYDK2VwAyEAjSICb9pp0kHizGQtdG8ySWsDChfGqi+gyFCttigBNOA="
SENDER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39)))
SENDER_PRIVATE_HEX = bytes(range(7, 39)).hex()
SENDER_PUBLIC_SPKI = base64.b64encode(
    SENDER_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
OTHER_KEY_HEX = bytes(range(100, 132)).hex()

SECRETS: dict[str, str | list[str]] = {
    "relay/sources/cad2": "whsec_" + base64.b64encode(b"the second CAD's own 32-byte key").decode(),
    "relay/sources/github": "It's a Secret to Everybody",
    "relay/sources/typeform": "typeform-secret-0b1c",
    "relay/sources/tally": "tally-secret-77aa",
    "relay/sources/script": "apps-script-secret-19fe",
    # PRC's real key and the test sender's key: the published key must load beside it
    "relay/sources/erlc": [ERLC_PUBLIC_KEY, SENDER_PUBLIC_SPKI],
    "relay/sources/sonoran": "sonoran-community-api-key-5d2e",
    "relay/sources/snaily": "snaily-url-token-Q2x9vB7mK4",
}
SIGNATURES: dict[str, dict[str, Any]] = {
    "cad2": {"scheme": "standard-webhooks", "secret": "relay/sources/cad2"},
    "github": {
        "scheme": "hmac-sha256",
        "secret": "relay/sources/github",
        "header": "X-Hub-Signature-256",
        "prefix": "sha256=",
        "encoding": "hex",
        "delivery_id_header": "X-GitHub-Delivery",
    },
    "typeform": {
        "scheme": "hmac-sha256",
        "secret": "relay/sources/typeform",
        "header": "Typeform-Signature",
        "prefix": "sha256=",
        "encoding": "base64",
    },
    "tally": {
        "scheme": "hmac-sha256",
        "secret": "relay/sources/tally",
        "header": "Tally-Signature",
        "encoding": "base64",
    },
    "script": {
        "scheme": "hmac-sha256",
        "secret": "relay/sources/script",
        "header": "X-Relay-Signature",
        "encoding": "base64",
        "timestamp_header": "X-Relay-Timestamp",
    },
    "erlc": {"scheme": "ed25519", "secret": "relay/sources/erlc"},
    "sonoran": {"scheme": "body-key", "secret": "relay/sources/sonoran"},
    "snaily": {"scheme": "url-token", "secret": "relay/sources/snaily"},
}
UNITS = {"units": [{"id": "ADAM-12", "officer_name": "B. Bubbleton", "status": "10-8"}]}
UNITS_BODY = json.dumps(UNITS).encode()


def scheme_config_data() -> dict[str, Any]:
    """The base config plus one `units` source per scheme in SIGNATURES (the scheme is under test)."""
    data = base_config_data()
    cad = data["sources"]["cad"]
    for name, signature in SIGNATURES.items():
        data["sources"][name] = {**cad, "signature": signature}
    return data


def secret_of(source: str) -> str:
    if source == "cad":
        return CAD_SECRET
    value = SECRETS[f"relay/sources/{source}"]
    return value[-1] if isinstance(value, list) else value


# Every source of scheme_config_data(), the base `cad` first.
SCHEME_SOURCES = ["cad", *SIGNATURES]


# relay.toml ships with every secret in one bundle ([secrets] bundle); suites about a secret per name
# use it without that table.
SHIPPED_BUNDLE = "relay/sources/northca-relay"


def shipped_config_text(*, bundle: bool = True) -> str:
    """The shipped relay.toml, with or without its [secrets] bundle."""
    from tests.support.constants import ROOT

    text = (ROOT / "relay.toml").read_text(encoding="utf-8")
    if bundle:
        return text
    start = text.index("[secrets]")
    return text[:start] + text[text.index("[ingress]") :]
