"""The router under Mangum, against SPEC §10's Lambda budgets (`python -m bench.lambda_bench`).

1. Warm-invocation overhead: the handler fed `events/chat.json` against a fast simulated
   upstream (`edge-router simulate --profile fast`, its own process), side by side (interleaved) with a direct aiohttp POST of the same body to the same
   upstream, both from synchronous code on a persistent loop as Lambda runs them; p50/p99 of
   each and the difference. Budget: <= 1 ms.
2. Connection reuse: a handler whose upstream is behind a TCP proxy that counts accepted
   connections, over many warm invocations. Budget: one connection.
3. Cold start: import + app build of `functions/router/handler.py` (DynamoDB store, so its
   client is built too) against the bare import of its dependencies plus creating one boto3
   DynamoDB client, each in fresh processes (median of several). Budget: <= 1.2x.

Figures are relative (router vs direct in one run), never absolute.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from tests.e2e.procs import SimProcess, start_simulator
from tests.integration.lambda_harness import (
    EVENTS,
    FakeContext,
    SimThread,
    router_environ,
    write_config,
)

from edge_router.runtime.lambda_buffered import RouterHandler, build_router_handler

REPO = Path(__file__).resolve().parents[1]
REGION = "us-east-1"

_BARE = """
import time
t = time.perf_counter()
import aiohttp, boto3, fastapi, mangum, orjson, pydantic, yaml
from aws_lambda_powertools import Logger
boto3.session.Session().client("dynamodb", region_name="us-east-1")
print(time.perf_counter() - t)
"""
_HANDLER = """
import time
t = time.perf_counter()
import functions.router.handler
print(time.perf_counter() - t)
"""


def percentile(values: list[float], pct: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(math.ceil(pct / 100 * len(ordered)), 1) - 1]


def build(raw: dict[str, Any], path: Path) -> RouterHandler:
    """The router handler on `raw` config; EMF lines go to /dev/null, as a write."""
    write_config(path, raw)
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the handler
    return build_router_handler(router_environ(path, region=REGION), write_metrics=devnull.write)


def warm_overhead(sim: SimProcess, tmp: Path, samples: int) -> dict[str, list[float]]:
    handler = build(sim.config, tmp / "bench.yaml")
    event = json.loads((EVENTS / "chat.json").read_text())
    url = sim.config["upstreams"][0]["base_url"] + "/chat/completions"
    body = event["body"].encode()
    headers = {k: v for k, v in event["headers"].items() if k in ("authorization", "content-type")}
    loop = handler.loop.loop

    async def new_session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    session = loop.run_until_complete(new_session())

    async def direct() -> None:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            assert response.status == 200

    out: dict[str, list[float]] = {"router": [], "direct": []}
    try:
        for i in range(samples + 200):
            t0 = time.perf_counter()
            response = handler(event, FakeContext())
            t1 = time.perf_counter()
            loop.run_until_complete(direct())
            t2 = time.perf_counter()
            assert response["statusCode"] == 200, response
            if i >= 200:  # warm-up
                out["router"].append((t1 - t0) * 1000)
                out["direct"].append((t2 - t1) * 1000)
    finally:
        loop.run_until_complete(session.close())
        handler.close()
    return out


def reused_connections(sim: SimThread, tmp: Path, invocations: int) -> int:
    upstream = sim.ids[0]
    handler = build(sim.config(proxied=(upstream,)), tmp / "bench-proxied.yaml")
    event = json.loads((EVENTS / "chat.json").read_text())
    try:
        for _ in range(invocations):
            assert handler(event, FakeContext())["statusCode"] == 200
    finally:
        handler.close()
    return sim.proxy(upstream).accepted


def cold_start(runs: int) -> tuple[float, float, float]:
    """(median handler import + build s, median bare s, median of the paired ratios).

    Each run measures the two sides back to back, in fresh processes, so a ratio compares
    like with like even when the machine's speed drifts (other work on it)."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    base.update(AWS_REGION=REGION, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                PYTHONPATH=str(REPO))
    handler_env = dict(base, EDGE_ROUTER_CONFIG=str(REPO / "config" / "edge-router.yaml"),
                       EDGE_ROUTER_HEALTH_STORE="dynamodb", EDGE_ROUTER_HEALTH_TABLE="bench",
                       POWERTOOLS_SERVICE_NAME="edge-router")

    def timed(code: str, env: dict[str, str]) -> float:
        result = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO,
                                capture_output=True, text=True, check=True)
        return float(result.stdout.strip().splitlines()[-1])

    timed(_HANDLER, handler_env)  # warm the page cache and .pyc files once
    pairs = [(timed(_HANDLER, handler_env), timed(_BARE, base)) for _ in range(runs)]
    return (statistics.median(h for h, _ in pairs), statistics.median(b for _, b in pairs),
            statistics.median(h / b for h, b in pairs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="warm invocations measured")
    parser.add_argument("--cold-runs", type=int, default=11, help="fresh processes per side")
    args, _ = parser.parse_known_args(argv)  # tolerate bench.run's own options
    with tempfile.TemporaryDirectory(prefix="edge-lambda-bench-") as tmp:
        process = start_simulator(Path(tmp), 1)  # its own process: no GIL shared with us
        try:
            timings = warm_overhead(process, Path(tmp), args.samples)
        finally:
            process.stop()
        with SimThread(1) as sim:
            connections = reused_connections(sim, Path(tmp), 200)
    handler_s, bare_s, ratio = cold_start(args.cold_runs)

    router, direct = timings["router"], timings["direct"]
    rows = [(name, statistics.median(v), percentile(v, 99)) for name, v in timings.items()]
    diff_p50 = statistics.median(router) - statistics.median(direct)
    diff_p99 = percentile(router, 99) - percentile(direct, 99)
    print(f"\nRouter Lambda handler (Mangum, events/chat.json) vs a direct aiohttp call, "
          f"{len(router)} warm invocations each, interleaved")
    print(f"{'call':<10} {'p50 ms':>9} {'p99 ms':>9}")
    for name, p50, p99 in rows:
        print(f"{name:<10} {p50:>9.3f} {p99:>9.3f}")
    print(f"{'overhead':<10} {diff_p50:>9.3f} {diff_p99:>9.3f}")
    checks = [
        ("warm overhead p50 (handler - direct)", f"{diff_p50:.3f} ms", "<= 1 ms", diff_p50 <= 1.0),
        ("upstream connections over 200 invocations", str(connections), "1", connections == 1),
        (f"import+build {handler_s * 1000:.0f} ms / bare {bare_s * 1000:.0f} ms",
         f"{ratio:.2f}x", "<= 1.2x", ratio <= 1.2),
    ]
    print(f"\n{'SPEC §10 Lambda budget':<44} {'measured':>12} {'budget':>10}  result")
    for name, measured, budget, ok in checks:
        print(f"{name:<44} {measured:>12} {budget:>10}  {'PASS' if ok else 'FAIL'}")
    return 0 if all(ok for *_, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
