"""Cold import on the built artifact, without and with the build's python3.13 bytecode.

Lambda's filesystem is read-only: without `.pyc` in the build, every cold start compiles every module
it imports (relay_devtools.operations.bytecode). Each function is imported as Lambda would: its built
code and the layer's packages first on the path, boto3 from the runtime (here the venv's, compiled as
the runtime's is), no bytecode written (PYTHONDONTWRITEBYTECODE). The function's code is `make build`'s
(.aws-sam/build/IngressFunction, its .pyc removed) when there is one, else functions/ as sam build
copies it; the layer is its requirements unpacked from this venv without their __pycache__ (the built
layer's binaries are arm64's). Each figure is a median of fresh interpreters, interleaved, beside the
same import from the same files compiled as `relay bytecode` compiles them.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from relay_devtools.bench import Row
from relay_devtools.operations.bytecode import FUNCTION_ROOT, LAYER_ROOT, compile_folder

REPO = Path(__file__).resolve().parents[3]
BUILD = REPO / ".aws-sam" / "build"
RUNS = 7
TIMED_IMPORT = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
MODULES = {"ingress": "relay.handlers.ingress", "consumer": "relay.handlers.consumer"}
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")


def _requirements() -> list[str]:
    lines = (REPO / "layers" / "deps" / "requirements.txt").read_text().splitlines()
    return [line.split("==")[0].strip() for line in lines if line.strip() and not line.startswith("#")]


def _assemble(target: Path) -> tuple[Path, Path]:
    """(function, layer's python/), without bytecode: make build's function code, else functions/."""
    function, layer = target / "function", target / "layer" / "python"
    built = BUILD / "IngressFunction"
    shutil.copytree(built if (built / "relay").is_dir() else REPO / "functions", function, ignore=SKIP)
    for name in _requirements():
        distribution = importlib.metadata.distribution(name)
        for file in distribution.files or []:
            if "__pycache__" in file.parts or file.suffix == ".pyc" or ".." in file.parts:
                continue
            source = Path(str(distribution.locate_file(file)))
            if source.is_file():
                destination = layer / file
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, destination)
    return function, layer


def _import_ms(module: str, function: Path, layer: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "POWERTOOLS_"))}
    env |= {
        "PYTHONPATH": f"{function}{os.pathsep}{layer}",
        "PYTHONDONTWRITEBYTECODE": "1",  # Lambda cannot write them
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    result = subprocess.run(
        [sys.executable, "-c", TIMED_IMPORT.format(module=module)],
        capture_output=True,
        text=True,
        env=env,
        cwd=function,
        check=True,
        timeout=120,
    )
    return float(result.stdout.strip().splitlines()[-1]) * 1000


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="relay-bench-bytecode-") as temp:
        plain = _assemble(Path(temp) / "plain")
        compiled = _assemble(Path(temp) / "compiled")
        compile_folder(compiled[0], FUNCTION_ROOT)
        compile_folder(compiled[1], f"{LAYER_ROOT}/python")
        samples: dict[tuple[str, bool], list[float]] = {}
        for _ in range(RUNS):  # interleaved: the machine's load drifts alike for each
            for name, module in MODULES.items():
                for with_pyc, (function, layer) in ((False, plain), (True, compiled)):
                    samples.setdefault((name, with_pyc), []).append(_import_ms(module, function, layer))
    where = "make build's" if (BUILD / "IngressFunction" / "relay").is_dir() else "assembled"
    rows = []
    for name, module in MODULES.items():
        rows.append(
            Row(
                f"import {module}, no .pyc",
                statistics.median(samples[(name, False)]),
                f"the same with the .pyc ({where} code, median of {RUNS})",
                statistics.median(samples[(name, True)]),
                "ms",
            )
        )
    return rows
