"""Run every benchmark module and print one table: subject, figure, baseline, ratio.

Each module runs in a fresh interpreter of its own: two benches that start `relay local` in one
process share what a process keeps (the environment, the handlers' cached clients, Powertools'
globals), and the second one measured the first one's leftovers (bench_local after bench_emergencies
never converged). `python -m relay_devtools.bench bench_x` runs one, in this process."""

from __future__ import annotations

import importlib
import pkgutil
import platform
import subprocess
import sys

import relay_devtools.bench as package


def run_one(name: str) -> None:
    module = importlib.import_module(f"{package.__name__}.{name}")
    print(f"\n## {name}: {(module.__doc__ or '').strip().splitlines()[0]}")
    print(f"{'measured':48} {'value':>14}   {'baseline':44} {'value':>14} {'ratio':>8}", flush=True)
    with package.quiet():  # the relay's log lines and metrics are written, to /dev/null
        rows = module.run()
    for row in rows:
        print(
            f"{row.name:48} {row.value:>11.3f} {row.unit:<3}  {row.baseline_name:44} "
            f"{row.baseline:>11.3f} {row.unit:<3} {row.ratio:>7.2f}x"
        )


def main() -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("bench_"))
    selected = sys.argv[1:]
    unknown = sorted(set(selected) - set(names))
    if unknown:
        raise SystemExit(f"relay bench: no {', '.join(unknown)}; there are {', '.join(names)}")
    if len(selected) == 1:
        run_one(selected[0])
        return 0
    print(
        f"northca-relay benchmarks - Python {platform.python_version()} on {platform.machine()}", flush=True
    )
    failed = []
    for name in selected or names:
        if subprocess.run([sys.executable, "-m", package.__name__, name], check=False).returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
