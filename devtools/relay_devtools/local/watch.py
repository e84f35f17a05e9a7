"""relay local follows its files: relay.toml and the secrets file, edited while it runs, are read again
when saved, as a deploy would read them, instead of the running stack answering from the old ones
(`Unknown source 'typeform'` for a source just uncommented).

- relay.toml that does not load: said at once, with the error and its hint; the stack keeps serving the
  config it has;
- relay.toml that loads: demo secrets are added for new names (the secrets file, then moto), the
  emulated MDT links the new (MDT, guild) pairs, and the functions start cold with the new config;
  a change relay local cannot take running (ER:LC servers, whose emulator and schedule start with it;
  the secrets' bundle) is said, with the restart that takes it;
- the secrets file: its values go to moto's Secrets Manager (what `relay sign` signs with is what the
  ingress checks).

`check_once` does one comparison (the tests call it); `FileWatch.start` runs it every second.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from relay.config.loader import load_config
from relay.config.schema import RelayConfig
from relay.errors import ConfigError
from relay_devtools.files.config_hints import explain
from relay_devtools.files.secrets_file import (
    SecretsFile,
    SecretsFileError,
    plan_secrets_file,
    write_secrets_file,
)

if TYPE_CHECKING:
    from relay_devtools.local.stack import LocalStack

RESTART = "stop relay local (Ctrl-C) and start it again (make run) to take it"


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _targets(config: RelayConfig) -> set[tuple[str, str]]:
    pairs = {(s.mdt_id, s.guild_id) for s in config.sources.values()}
    return pairs | {(s.mdt_id, s.guild_id) for s in config.erlc.servers.values()}


@dataclass
class FileWatch:
    stack: LocalStack
    say: Callable[[str], None] = print
    _seen: dict[Path, str] = field(default_factory=dict)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        for path in self._paths():
            self._seen[path] = _digest(path)

    def _paths(self) -> tuple[Path, Path]:
        return self.stack.options.config, self.stack.options.secrets

    def start(self, stop: threading.Event, every: float = 1.0) -> None:
        def loop() -> None:
            while not stop.wait(every):
                try:
                    self.check_once()
                except Exception as exc:  # noqa: BLE001 - the watch must never stop the stack
                    self.say(f"relay local: could not read the changed files again: {exc!r}")

        self._thread = threading.Thread(target=loop, name="relay-local-watch", daemon=True)
        self._thread.start()

    def check_once(self) -> str | None:
        """Read the files again if either changed since last time; what was said, or None."""
        config_path, secrets_path = self._paths()
        changed = [path for path in (config_path, secrets_path) if _digest(path) != self._seen.get(path)]
        if not changed:
            return None
        for path in changed:
            self._seen[path] = _digest(path)
        said = self._reload(config_changed=config_path in changed)
        self.say(said)
        return said

    def _reload(self, *, config_changed: bool) -> str:
        stack = self.stack
        name = stack.options.config
        try:
            config = load_config(name)
        except ConfigError as exc:
            return (
                f"relay local: {name} changed and does not load; still serving the config it had. Fix it "
                f"(it is read again when saved):\n{explain(str(exc))}"
            )
        if config.erlc.servers.keys() != stack.config.erlc.servers.keys():
            return f"relay local: {name} changed its [erlc.servers]: {RESTART}"
        if config.secrets.bundle != stack.config.secrets.bundle:
            return f"relay local: {name} changed [secrets] bundle: {RESTART}"
        try:
            plan = plan_secrets_file(stack.options.secrets, config)
        except SecretsFileError as exc:
            return f"relay local: {exc}; still serving the secrets it had"
        if plan.changed:
            write_secrets_file(stack.options.secrets, plan.content)
            self._seen[stack.options.secrets] = _digest(stack.options.secrets)
        self._apply(config, plan.content)
        what = f"{name} read again" if config_changed else f"{stack.options.secrets} read again"
        added = f"; demo secrets added for {', '.join(plan.added)}" if plan.added else ""
        sources = ", ".join(config.sources) or "none"
        return f"relay local: {what} (sources: {sources}){added}"

    def _apply(self, config: RelayConfig, secrets: SecretsFile) -> None:
        """The new config and secrets, between two invocations: the next one starts cold."""
        from aws_lambda_powertools.utilities import parameters

        from relay.handlers import wiring

        stack = self.stack
        with stack.functions.exclusive():
            stack.put_secrets(secrets, config.secrets.bundle)
            if stack.emulator is not None and not stack.options.northca_url:  # its own emulated MDT
                for mdt_id, guild_id in sorted(_targets(config) - _targets(stack.config)):
                    stack.emulator.link(mdt_id, guild_id)
            stack.config, stack.secrets = config, secrets
            wiring.reset()
            parameters.clear_caches()  # type: ignore[no-untyped-call]
