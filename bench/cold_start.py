"""Cold start against SPEC §14's budget (`python -m bench.cold_start`, part of `make bench`).

Each handler module (`functions/router/handler.py`, `functions/health_checker/handler.py`) is
imported, and so built (config, DynamoDB client, store, logger, app), in a fresh interpreter, and
timed from inside against `python -c "import boto3"` timed the same way in a fresh interpreter,
back to back, `--runs` times (median of the paired ratios, so a machine whose speed drifts under
other work still compares like with like). Budget: the router <= 2.5x. Bytecode is present (a
warm-up run writes it), as it is in the built layer.

`--repo DIR` measures another checkout (e.g. main before a change) with this venv:
`DIR/shared` goes first on `PYTHONPATH`. Where the time goes: `python -X importtime`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
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


def environment(repo: Path) -> dict[str, str]:
    """A Lambda-like environment: the packaged config, the DynamoDB store (its client is built
    at init, as deployed), fake credentials (nothing is called)."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return dict(
        base, AWS_REGION=REGION, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
        PYTHONPATH=f"{repo / 'shared'}{os.pathsep}{repo}",
        EDGE_ROUTER_CONFIG=str(repo / "config" / "edge-router.yaml"),
        EDGE_ROUTER_HEALTH_STORE="dynamodb", EDGE_ROUTER_HEALTH_TABLE="bench",
        POWERTOOLS_SERVICE_NAME="edge-router", POWERTOOLS_METRICS_NAMESPACE="EdgeRouter",
    )  # fmt: skip


def timed(module: str, env: dict[str, str], cwd: Path) -> float:
    """Seconds to import `module` in a fresh interpreter, measured inside it."""
    result = subprocess.run([sys.executable, "-c", _TIMED.format(module=module)], env=env,
                            cwd=cwd, capture_output=True, text=True, check=True)  # fmt: skip
    return float(result.stdout.strip().splitlines()[-1])


def measure(runs: int, repo: Path = REPO) -> dict[str, tuple[float, float, float]]:
    """handler name -> (median import+build s, median `import boto3` s, median paired ratio)."""
    env = environment(repo)
    out = {}
    for name, module in HANDLERS.items():
        timed(module, env, repo)  # warm-up: page cache, and .pyc written where missing
        timed(BOTO3, env, repo)
        pairs = [(timed(module, env, repo), timed(BOTO3, env, repo)) for _ in range(runs)]
        out[name] = (statistics.median(h for h, _ in pairs),
                     statistics.median(b for _, b in pairs),
                     statistics.median(h / b for h, b in pairs))  # fmt: skip
    return out


def report(results: dict[str, tuple[float, float, float]], runs: int) -> bool:
    print(f"\nCold start: import + build of each handler vs `python -c 'import boto3'`, fresh "
          f"processes, median of {runs} paired runs (SPEC §14)")
    print(f"{'handler':<16} {'import+build ms':>16} {'import boto3 ms':>16} {'ratio':>7} "
          f"{'budget':>7}  result")
    ok = True
    for name, (handler_s, boto3_s, ratio) in results.items():
        budgeted = name == "router"
        passed = ratio <= BUDGET or not budgeted
        ok = ok and passed
        print(f"{name:<16} {handler_s * 1000:>16.0f} {boto3_s * 1000:>16.0f} {ratio:>6.2f}x "
              f"{f'<= {BUDGET}x' if budgeted else '-':>7}  "
              f"{('PASS' if passed else 'FAIL') if budgeted else 'info'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="paired fresh processes per handler")
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout to measure")
    args, _ = parser.parse_known_args(argv)  # tolerate bench.run's own options
    ok = report(measure(args.runs, args.repo.resolve()), args.runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
