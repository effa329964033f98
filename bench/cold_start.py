"""Cold start against SPEC §14's budget (`python -m bench.cold_start`, part of `make bench`).

Each handler module (`functions/router/handler.py`, `functions/health_checker/handler.py`) is
imported, and so built (config, DynamoDB client, store, logger, app), in a fresh interpreter, and
timed from inside against `python -c "import boto3"` timed the same way in a fresh interpreter,
back to back, `--runs` times (median of the paired ratios, so a machine whose speed drifts under
other work still compares like with like). Budget: the router <= 2.5x. Bytecode is present (a
warm-up run writes it), as it is in the built layer.

Two set-ups, side by side:
- `layer` (the budget): the shared layer as `shared/Makefile` builds it (buffered mode, this
  machine's wheels of the locked versions, python3.12 bytecode, botocore's data cut), run by the
  python3.12 Lambda runs with `-S` (nothing but the layer and the standard library), the boto3
  being the layer's own;
- `venv` (for reference): this venv's python and packages.
`--repo DIR` measures another checkout (e.g. main before a change) in the venv set-up:
`DIR/shared` goes first on `PYTHONPATH`. Where the time goes: `python -X importtime`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
BUDGET = 2.5

_TIMED = """
import time
t = time.perf_counter()
import {module}
print(time.perf_counter() - t)
"""
HANDLERS = {"router": "functions.router.handler",
            "health checker": "functions.health_checker.handler"}  # fmt: skip
BOTO3 = "boto3"


PYENV = {"PYENV_VERSION": "3.12.1:3.11.7"}  # as the Makefile's SAM_PYENV
HOST_PLATFORM = "manylinux2014_x86_64 manylinux_2_28_x86_64"


def python312() -> str:
    """The real python3.12 behind pyenv's shim."""
    return subprocess.run(["python3.12", "-c", "import sys; print(sys.executable)"],
                          env={**os.environ, **PYENV}, capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def build_layer(into: Path) -> Path:
    """The buffered layer, built by shared/Makefile for this machine; its python/ directory."""
    subprocess.run(["make", "-s", "-C", str(REPO / "shared"), "layer", "MODE=buffered",
                    f"ARTIFACTS_DIR={into}", f"PLATFORM={HOST_PLATFORM}",
                    f"PYTHON312={python312()}"],
                   env={**os.environ, **PYENV}, check=True, capture_output=True)  # fmt: skip
    return into / "python"


def environment(repo: Path, site: Path | None = None) -> dict[str, str]:
    """A Lambda-like environment: the packaged config, the DynamoDB store (its client is built
    at init, as deployed), fake credentials (nothing is called). `site`: the layer's python/."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    path = [str(site), str(repo)] if site else [str(repo / "shared"), str(repo)]
    return dict(
        base, AWS_REGION=REGION, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
        PYTHONPATH=os.pathsep.join(path),
        EDGE_ROUTER_CONFIG=str(repo / "config" / "edge-router.yaml"),
        EDGE_ROUTER_HEALTH_STORE="dynamodb", EDGE_ROUTER_HEALTH_TABLE="bench",
        POWERTOOLS_SERVICE_NAME="edge-router", POWERTOOLS_METRICS_NAMESPACE="EdgeRouter",
    )  # fmt: skip


def timed(module: str, env: dict[str, str], cwd: Path, python: list[str]) -> float:
    """Seconds to import `module` in a fresh interpreter, measured inside it."""
    result = subprocess.run([*python, "-c", _TIMED.format(module=module)], env=env,
                            cwd=cwd, capture_output=True, text=True, check=True)  # fmt: skip
    return float(result.stdout.strip().splitlines()[-1])


def measure(runs: int, repo: Path = REPO, *, site: Path | None = None
            ) -> dict[str, tuple[float, float, float]]:  # fmt: skip
    """handler name -> (median import+build s, median `import boto3` s, median paired ratio).
    With `site` (a built layer's python/): python3.12 -S on the layer alone."""
    env = environment(repo, site)
    python = [python312(), "-S"] if site else [sys.executable]
    out = {}
    for name, module in HANDLERS.items():
        timed(module, env, repo, python)  # warm-up: page cache, and .pyc written where missing
        timed(BOTO3, env, repo, python)
        pairs = [(timed(module, env, repo, python), timed(BOTO3, env, repo, python))
                 for _ in range(runs)]  # fmt: skip
        out[name] = (statistics.median(h for h, _ in pairs),
                     statistics.median(b for _, b in pairs),
                     statistics.median(h / b for h, b in pairs))  # fmt: skip
    return out


def report(results: dict[str, dict[str, tuple[float, float, float]]], runs: int) -> bool:
    print(f"\nCold start: import + build of each handler vs `python -c 'import boto3'`, fresh "
          f"processes, median of {runs} paired runs (SPEC §14; budget on the built layer)")
    print(f"{'set-up':<7} {'handler':<16} {'import+build ms':>16} {'import boto3 ms':>16} "
          f"{'ratio':>7} {'budget':>7}  result")
    ok = True
    for setup, rows in results.items():
        ok = _rows(setup, rows) and ok
    return ok


def _rows(setup: str, results: dict[str, tuple[float, float, float]]) -> bool:
    ok = True
    for name, (handler_s, boto3_s, ratio) in results.items():
        budgeted = name == "router" and setup == "layer"
        passed = ratio <= BUDGET or not budgeted
        ok = ok and passed
        print(f"{setup:<7} {name:<16} {handler_s * 1000:>16.0f} {boto3_s * 1000:>16.0f} {ratio:>6.2f}x "
              f"{f'<= {BUDGET}x' if budgeted else '-':>7}  "
              f"{('PASS' if passed else 'FAIL') if budgeted else 'info'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="paired fresh processes per handler")
    parser.add_argument("--repo", type=Path, default=None,
                        help="another checkout to measure (venv set-up only)")
    args, _ = parser.parse_known_args(argv)  # tolerate bench.run's own options
    if args.repo is not None:
        return 0 if report({"venv": measure(args.runs, args.repo.resolve())}, args.runs) else 1
    with tempfile.TemporaryDirectory(prefix="edge-cold-start-") as tmp:
        results = {"layer": measure(args.runs, site=build_layer(Path(tmp))),
                   "venv": measure(args.runs)}  # fmt: skip
    return 0 if report(results, args.runs) else 1


if __name__ == "__main__":
    sys.exit(main())
