"""relay.secrets.toml: every secret the config names gets a value once, and the file keeps what is there."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from relay.sources.registry import parse_config
from relay_devtools.secrets_file import (
    SecretsFile,
    ensure_secrets_file,
    load_secrets_file,
    write_secrets_file,
)

MDT = "5d0e7c1a-8b7f-4c55-9d1e-3f2a6b9c0d11"
GUILD = "987654321098765432"

CONFIG = parse_config(
    {
        "northca": {"partner_key_secret": "northca/partner-key"},
        "sources": {
            "cad": {
                "adapter": "units",
                "mdt_id": MDT,
                "guild_id": GUILD,
                "signature": {"scheme": "standard-webhooks", "secret": "relay/sources/cad"},
            },
            "erlc": {
                "adapter": "erlc-events",
                "mdt_id": MDT,
                "guild_id": GUILD,
                "signature": {"scheme": "ed25519", "secret": "relay/sources/erlc"},
                "options": {"server": "main"},
            },
        },
        "erlc": {
            "servers": {"main": {"server_key_secret": "relay/erlc/main", "mdt_id": MDT, "guild_id": GUILD}}
        },
    }
)


def test_a_new_file_holds_every_secret_the_config_names(tmp_path: Path) -> None:
    path = tmp_path / "relay.secrets.toml"
    content, created = ensure_secrets_file(path, CONFIG)
    assert created
    assert set(content.secrets) == CONFIG.secret_names()
    assert str(content.secrets["relay/sources/cad"]).startswith("whsec_")
    assert "relay/sources/erlc" in content.signing_keys  # the local sender signs with it
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secrets_file(path) == content


def test_an_existing_file_is_kept_and_only_completed(tmp_path: Path) -> None:
    path = tmp_path / "relay.secrets.toml"
    write_secrets_file(
        path,
        SecretsFile(secrets={"relay/sources/cad": ["whsec_old", "whsec_new"], "relay/erlc/main": "real"}),
    )
    content, created = ensure_secrets_file(path, CONFIG)
    assert created
    assert content.secrets["relay/sources/cad"] == ["whsec_old", "whsec_new"]
    assert content.secrets["relay/erlc/main"] == "real"
    assert content.newest("relay/sources/cad") == "whsec_new"
    assert json.loads(content.as_secret_string("relay/sources/cad")) == ["whsec_old", "whsec_new"]

    again, created_again = ensure_secrets_file(path, CONFIG)
    assert not created_again
    assert again == content
