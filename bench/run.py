"""`make bench`: the router against a direct call to the same local upstream, side by side.

Starts `edge-router simulate --profile fast` (one upstream) and `edge-router serve` in front of
it, then drives both with the same load at 1 and 16 connections and prints p50/p99 latency,
requests/s and the router's overhead, checked against SPEC §10's budgets. Then runs the Lambda
benchmark if present, and the time-to-first-token table (`bench/ttft.py`). Figures are relative
(router vs direct in one run), never absolute.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path

from tests.e2e.procs import start_router, start_simulator

from .loadgen import LoadResult, run_load

BODY = '{"model":"gpt-4.1","messages":[{"role":"user","content":"Say hello"}]}'
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}


def self_reported_overhead_ms(url: str, samples: int = 300) -> float:
    values = []
    for _ in range(samples):
        req = urllib.request.Request(url, data=BODY.encode(), headers=HEADERS, method="POST")
        with urllib.request.urlopen(req) as resp:
            resp.read()
            values.append(float(resp.headers["x-edge-overhead-ms"]))
    return statistics.median(values)


def row(name: str, r: LoadResult) -> str:
    return (f"{name:<8} {r.connections:>5} {r.requests_per_s:>10.0f} {r.p50_ms:>9.3f} "
            f"{r.p99_ms:>9.3f} {r.errors:>7}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement (default 5)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    sim = start_simulator(tmp, 1)
    router = start_router(tmp, sim.config)
    direct_url = sim.config["upstreams"][0]["base_url"] + "/chat/completions"
    router_url = router.url + "/v1/chat/completions"
    try:
        run_load(router_url, BODY, HEADERS, connections=4, seconds=1)  # warm-up
        results = {}
        for conns in (1, 16):
            results[("direct", conns)] = run_load(direct_url, BODY, HEADERS, connections=conns,
                                                  seconds=args.seconds)
            results[("router", conns)] = run_load(router_url, BODY, HEADERS, connections=conns,
                                                  seconds=args.seconds)
        self_overhead = self_reported_overhead_ms(router_url)
    finally:
        router.stop()
        sim.stop()

    tool = results[("direct", 1)].tool
    print(f"\nRouter vs direct call to one local fake upstream ({tool}, {args.seconds:.0f} s each)")
    print(f"{'target':<8} {'conns':>5} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}")
    for key, result in results.items():
        print(row(key[0], result))
    overhead_p50 = results[("router", 1)].p50_ms - results[("direct", 1)].p50_ms
    r16 = results[("router", 16)]
    checks = [
        ("overhead p50 @1 conn (router - direct)", f"{overhead_p50:.3f} ms", "<= 0.5 ms",
         overhead_p50 <= 0.5),
        ("x-edge-overhead-ms median (self-reported)", f"{self_overhead:.3f} ms", "<= 0.5 ms",
         self_overhead <= 0.5),
        ("router req/s @16 conns", f"{r16.requests_per_s:.0f}", ">= 2000",
         r16.requests_per_s >= 2000),
        ("router p99 @16 conns", f"{r16.p99_ms:.2f} ms", "<= 30 ms", r16.p99_ms <= 30),
        ("errors", str(sum(r.errors for r in results.values())), "0",
         all(r.errors == 0 for r in results.values())),
    ]
    print(f"\n{'SPEC §10 budget':<44} {'measured':>12} {'budget':>10}  result")
    for name, measured, budget, ok in checks:
        print(f"{name:<44} {measured:>12} {budget:>10}  {'PASS' if ok else 'FAIL'}")
    from . import keys_bench

    keys_bench.main(args.seconds)
    if importlib.util.find_spec("bench.lambda_bench") is not None:
        from . import lambda_bench

        lambda_bench.main()
    from . import cold_start, ttft  # ttft: time to first token, direct vs serve vs run.sh

    cold_ok = cold_start.main([]) == 0
    ttft_ok = ttft.run(samples=100, first_token_ms=50.0)
    return 0 if all(ok for *_, ok in checks) and cold_ok and ttft_ok else 1


if __name__ == "__main__":
    sys.exit(main())
