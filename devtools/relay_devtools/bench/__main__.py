"""Run every benchmark module and print one table: subject, figure, baseline, ratio."""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import sys

import relay_devtools.bench as package


def main() -> int:
    print(f"northca-relay benchmarks - Python {platform.python_version()} on {platform.machine()}")
    selected = set(sys.argv[1:])
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not module_info.name.startswith("bench_"):
            continue
        if selected and module_info.name not in selected:
            continue
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        print(f"\n## {module_info.name}: {(module.__doc__ or '').strip().splitlines()[0]}")
        print(f"{'measured':48} {'value':>14}   {'baseline':44} {'value':>14} {'ratio':>8}")
        # A bench that runs relay local leaves its environment behind (RELAY_CONFIG names a file it
        # has deleted since): each starts from the environment the command was given.
        given = dict(os.environ)
        try:
            with package.quiet():  # the relay's log lines and metrics are written, to /dev/null
                rows = module.run()
        finally:
            os.environ.clear()
            os.environ.update(given)
        for row in rows:
            print(
                f"{row.name:48} {row.value:>11.3f} {row.unit:<3}  {row.baseline_name:44} "
                f"{row.baseline:>11.3f} {row.unit:<3} {row.ratio:>7.2f}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
