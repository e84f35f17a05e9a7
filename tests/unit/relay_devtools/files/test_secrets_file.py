"""relay.secrets.toml: every secret the config names gets a value once, and the file keeps what is there."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from relay.config.loader import parse_config
from relay_devtools.files.secrets_file import (
    SecretsFile,
    describe_written,
    ensure_secrets_file,
    git_ignored,
    load_secrets_file,
    plan_secrets_file,
    write_secrets_file,
)
from tests.support.constants import ROOT

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


def test_a_plan_writes_nothing(tmp_path: Path) -> None:
    # Given no file yet, when relay local plans the secrets (before its servers start)
    path = tmp_path / "relay.secrets.toml"
    plan = plan_secrets_file(path, CONFIG)
    # Then every secret has a value in memory, and nothing is on disk until the stack runs
    assert set(plan.content.secrets) == CONFIG.secret_names()
    assert (plan.existed, plan.changed) == (False, True)
    assert not path.exists()


def test_the_sentence_says_created_or_added_and_whether_git_ignores_it(tmp_path: Path) -> None:
    path = tmp_path / "community.secrets.toml"
    created = plan_secrets_file(path, CONFIG)
    assert describe_written(path, created, True).endswith("(git-ignored)")
    assert describe_written(path, created, True).startswith(f"created {path} with fresh demo secrets")
    assert "NOT git-ignored" in describe_written(path, created, False)
    write_secrets_file(path, SecretsFile(secrets={"relay/sources/cad": "whsec_x"}))
    appended = plan_secrets_file(path, CONFIG)
    sentence = describe_written(path, appended, None)
    assert sentence.startswith(
        "added demo values for northca/partner-key, relay/sources/erlc, relay/erlc/main to"
    )
    assert "with fresh demo secrets" not in sentence and "git-ignored" not in sentence


def test_git_ignored_outside_a_work_tree_is_unknown(tmp_path: Path) -> None:
    assert git_ignored(tmp_path / "relay.secrets.toml") is None


def test_git_ignored_knows_the_repositorys_rules() -> None:
    assert git_ignored(ROOT / "relay.secrets.toml") is True
    assert git_ignored(ROOT / "community.secrets.toml") is True  # every *.secrets.toml (issue 21)
    assert git_ignored(ROOT / "community.toml") is False
