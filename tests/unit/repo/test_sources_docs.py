"""docs/sources works as written: every `relay map` command in it runs, examples.toml holds each
page's source exactly as the page shows it, and each page's sample becomes units with that config."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from relay.config.loader import load_config, parse_config
from relay.sources.registry import KINDS, adapter_kind
from relay_devtools.cli import main
from tests.support.constants import NOW, ROOT

DOCS = ROOT / "docs" / "sources"
PAGES = sorted(path for path in DOCS.glob("*.md") if path.name != "README.md")
NORTHCA = {"northca": {"partner_key_secret": "northca/partner-key"}}


def relay_commands() -> list[str]:
    """Every `.venv/bin/relay ... map ...` command in docs/sources, from code blocks and inline code."""
    commands = []
    for page in [DOCS / "README.md", *PAGES]:
        text = page.read_text(encoding="utf-8")
        blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
        lines = [line for block in blocks for line in block.splitlines()]
        inline = [
            " ".join(code.split())
            for code in re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
        ]
        commands += [c for c in lines + inline if c.startswith(".venv/bin/relay ") and " map " in c]
    return commands


def json_documents(text: str) -> list[dict[str, Any]]:
    decoder, documents, position = json.JSONDecoder(), [], 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
    return documents


def test_the_docs_hold_the_relay_map_commands_they_promise() -> None:
    commands = relay_commands()
    assert len(commands) >= 6
    assert all("--config" in command for command in commands), commands


@pytest.mark.parametrize("command", relay_commands())
def test_every_relay_map_command_in_the_sources_docs_runs_as_written(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the command exactly as the page prints it, run from the repository's root
    monkeypatch.chdir(ROOT)
    argv = shlex.split(command)[1:]
    # When it runs / Then it succeeds, and each payload it names becomes at least one unit change, call
    # or panic
    code = main([*argv, "--received-at", NOW.isoformat()])
    out = capsys.readouterr().out
    assert code == 0, command
    results = json_documents(out)
    assert [r["payload"] for r in results] == [a for a in argv if a.startswith("events/") and "=" not in a]
    carries = ("changes", "calls", "panics")
    assert all(r["messages"] and all(any(m.get(k) for k in carries) for m in r["messages"]) for r in results)


def page_config(page: Path) -> dict[str, Any]:
    """The page's ```toml blocks, joined, as relay.toml data."""
    blocks = re.findall(r"```toml\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    # A block of the secrets file (`relay secrets push` reads it) is not relay.toml.
    return tomllib.loads("\n".join(b for b in blocks if not b.startswith("# prod.secrets.toml")))


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.stem)
def test_examples_toml_holds_each_pages_sources_as_the_page_shows_them(page: Path) -> None:
    # Given a sender's page / When its config is read alone, as an operator would copy it
    data = page_config(page)
    config = parse_config({**NORTHCA, **data})
    examples = load_config(DOCS / "examples.toml")
    # Then examples.toml has the same sources (and ER:LC servers)
    assert config.sources
    for name, source in config.sources.items():
        assert examples.sources[name] == source, name
    for name, server in config.erlc.servers.items():
        assert examples.erlc.servers[name] == server, name


def example_samples() -> dict[str, tuple[str, ...]]:
    """Each kind's example source (examples.toml) and its sample bodies, in order (state carries over):
    from the adapter registry, so a new sender is checked without editing this file."""
    return {
        adapter_kind(kind).sender.example_source: adapter_kind(kind).sender.samples for kind in sorted(KINDS)
    }


SAMPLES = example_samples()


@pytest.mark.parametrize("source", sorted(SAMPLES))
def test_each_pages_sample_becomes_units_with_the_pages_own_config(
    source: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # google-forms.md's config once looked for "Your callsign" while its sample says "Callsign"
    monkeypatch.chdir(ROOT)
    kind = load_config(DOCS / "examples.toml").sources[source].adapter
    rosters = adapter_kind(kind).sender.sample_rosters
    roster = [arg for name, file in rosters.items() for arg in ("--roster", f"{name}=events/{file}")]
    files = [f"events/{name}" for name in SAMPLES[source]]
    argv = ["--config", "docs/sources/examples.toml", "map", source, *files, *roster]
    assert main([*argv, "--received-at", NOW.isoformat()]) == 0
    results = json_documents(capsys.readouterr().out)
    assert len(results) == len(files)
    assert all(r["messages"] and r["messages"][0]["changes"] for r in results)


def test_the_readme_names_a_real_body_sample_for_every_sender() -> None:
    table = (DOCS / "README.md").read_text(encoding="utf-8")
    samples = re.findall(r"\| `(events/[^`]+)` \|$", table, re.M)
    assert "events/units_body.json" in samples
    for sample in samples:
        assert list(ROOT.glob(sample)), sample
        assert "apigw" not in sample  # a body, not an API Gateway event


def test_the_units_sample_is_a_body_the_shipped_relay_toml_maps(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    argv = [
        "--config",
        "relay.toml",
        "map",
        "cad",
        "events/units_body.json",
        "--received-at",
        NOW.isoformat(),
    ]
    assert main(argv) == 0
    [result] = json_documents(capsys.readouterr().out)
    assert [c["id"] for c in result["messages"][0]["changes"]] == ["ADAM-12", "LINCOLN-3"]
