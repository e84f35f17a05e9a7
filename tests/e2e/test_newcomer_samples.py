"""Issue 21, item 7: every sample names ADAM-12, so at its file's fixed time each one sent after any
other was skipped as older and its source looked broken. `relay sign` now sends a sample as a new event
of its sender (times set to now, a fresh delivery id where the source has one): each source's sample
is written, or found already there, whatever the order, and none is taken for a replay."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from relay_devtools.cli import main
from relay_devtools.local import state
from relay_devtools.local.stack import LocalOptions, LocalStack
from tests.support.constants import ROOT
from tests.support.examples import uncommented_relay_toml

# The docs' sources whose sample is a unit change (not an ER:LC command, which needs its player on a
# roster: tests/e2e/test_erlc_local.py; not SnailyCAD's 911 calls and panics, which change no unit).
SOURCES = ("cad", "typeform", "tally", "google-forms", "discord", "snailycad", "board", "sonoran")
# Senders that report state (the units adapter, SnailyCAD, Sonoran): the same report again is no change.
REPORTS_STATE = {"cad", "snailycad", "sonoran"}


@pytest.fixture(scope="module", params=["examples.toml", "relay.toml uncommented"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The docs' sources as examples.toml has them, and as a new user gets them: relay.toml's commented
    blocks switched on (Typeform's sample there names `adam-12`, which the consumer writes as ADAM-12)."""
    from relay.handlers import wiring

    saved = dict(os.environ)
    workdir = tmp_path_factory.mktemp("samples")
    if request.param == "examples.toml":
        shutil.copy(ROOT / "docs" / "sources" / "examples.toml", workdir / "relay.toml")
    else:
        (workdir / "relay.toml").write_text(uncommented_relay_toml())
    wiring.reset()
    stack = LocalStack(
        LocalOptions(
            config=workdir / "relay.toml",
            secrets=workdir / "relay.secrets.toml",
            template=ROOT / "template.yaml",
            port=0,
            emulator_port=0,
            erlc_emulator_port=0,
            window_seconds=0.2,
            state_file=workdir / ".local" / "relay-local.json",
        )
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        wiring.reset()
        os.environ.clear()
        os.environ.update(saved)


def sent(source: str, capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["sign", source, "--send", "--wait"])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def test_each_sources_sample_works_in_any_order(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stack.options.state_file is not None
    monkeypatch.setattr(state, "DEFAULT_STATE_FILE", stack.options.state_file)
    # When every source's sample is sent, then all of them again in the other order
    sources = [s for s in SOURCES if s in stack.config.sources]
    assert len(sources) >= 7
    for again, source in [(False, s) for s in sources] + [(True, s) for s in reversed(sources)]:
        out = sent(source, capsys)
        # Then none is taken for a replay, and each is written or found at the partner already; only a
        # sender that reports state, saying the same again, is no change (and the feed says so)
        assert '"replayed": true' not in out, (source, out)
        if again and source in REPORTS_STATE:
            assert "\nwritten\n" in out or "or the same change again" in out, (source, out)
        else:
            assert "not newer than what the unit holds" not in out, (source, out)
            assert "\nwritten\n" in out or "(the partner already holds it" in out, (source, out)
