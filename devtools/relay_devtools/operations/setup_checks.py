"""relay doctor's checks of the operator's own set-up around the config (the file checks run offline,
so `make build` runs them too):

- a secrets file git tracks, or one `git add .` would commit (the README's `prod.secrets.toml` holds the
  real partner key): a warning naming the file and what to do;
- a secret *value* pasted where relay.toml wants a secret's *name* (`secret = "tf_9f8a..."`): a failure
  that says where the value goes, not a name to rename it to;
- the `relay local` running in the folder (its state file), which doctor checks when given no stack.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from relay.config.schema import RelayConfig
from relay_devtools.files.secrets_file import looks_like_a_value
from relay_devtools.operations.doctor import Check

# What a secrets file is called: relay.secrets.toml, prod.secrets.toml, community.secrets.toml, ...
SECRETS_FILE = re.compile(r"(^|[./_-])secrets?\.toml$")


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, check=False, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None


def secrets_file_checks(folder: Path, secrets: Path | None = None) -> list[Check]:
    """Secrets files in the git work tree of `folder` that git tracks, and `secrets` (the file
    --secrets names) when `git add .` would commit it. Outside a work tree, or without git: nothing."""
    listed = _git(folder, "ls-files", "-z", "--full-name", ":(top)")
    if listed is None or listed.returncode != 0:
        return []
    tracked = sorted(name for name in listed.stdout.split("\0") if name and SECRETS_FILE.search(name))
    checks = [
        Check(
            "secrets file",
            True,
            f"{name} is tracked by git: its values are in the history. Rotate every value in it, then "
            f"`git rm --cached {name}` (*.secrets.toml is git-ignored)",
            warning=True,
        )
        for name in tracked
    ]
    if secrets is not None and secrets.exists():
        path = secrets.resolve()
        ignored = _git(path.parent, "check-ignore", "-q", str(path))
        known = _git(path.parent, "ls-files", "--error-unmatch", str(path))
        is_tracked = known is not None and known.returncode == 0
        if ignored is not None and ignored.returncode == 1 and not is_tracked:
            checks.append(
                Check(
                    "secrets file",
                    True,
                    f"{secrets} is not git-ignored: `git add .` would commit it. Name it *.secrets.toml "
                    "(ignored), or add it to .gitignore",
                    warning=True,
                )
            )
    return checks


def secret_value_checks(config: RelayConfig) -> list[Check]:
    """Every place the config names a secret, failed when what is there looks like the secret itself."""
    named = [("northca.partner_key_secret", config.northca.partner_key_secret, "northca/partner-key")]
    named += [
        (f"sources.{n}.signature.secret", s.signature.secret, f"relay/sources/{n}")
        for n, s in config.sources.items()
    ]
    named += [
        (f"erlc.servers.{n}.server_key_secret", s.server_key_secret, f"relay/erlc/{n}")
        for n, s in config.erlc.servers.items()
    ]
    checks = []
    for where, text, example in named:
        if looks_like_a_value(text):
            checks.append(
                Check(
                    "secret name",
                    False,
                    f"{where} looks like a secret value, not a name: relay.toml ships with the code, so "
                    f"never put a value in it. Put the value in your secrets file under the name "
                    f"{example!r}, set `{where.rsplit('.', 1)[-1]} = {example!r}` here and push it with "
                    "`relay secrets push`; then replace the value at its sender (it has been in a file "
                    "others may see)",
                )
            )
    return checks


def local_summary(state: dict[str, Any]) -> str:
    """The running `relay local` doctor checks, in a few words."""
    return (
        f"checking the relay local running here (pid {state.get('pid')}): its secrets "
        f"{state.get('secrets')}, its Northca {state.get('northca')}, its queues"
    )
