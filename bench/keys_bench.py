"""Keys mode in `make bench` (SPEC §13): what per-key limits cost a request.

One fake upstream, then `edge-router serve` in five set-ups, each measured at 1 connection side
by side in one run: passthrough (today's path), keys mode with a key without limits and with a
limited key (`rpm` high enough never to refuse), on the memory store and on a DynamoDB table
(a moto server on loopback: its own latency, a few ms of Python per call, stands in for
DynamoDB's; `health.timeout_ms` is raised to 2 s there so that a slow moto call is measured
rather than failed open). A key without limits must cost what it cost before limits existed:
no table call.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml
from tests.e2e.procs import EDGE_ROUTER, SimProcess, start_router, start_simulator
from tests.support import moto_dynamodb

from .loadgen import LoadResult, run_load

BODY = '{"model":"gpt-4.1","messages":[{"role":"user","content":"Say hello"}]}'
KEY_ENV = "BENCH_UPSTREAM_KEY"
LIMITS = ["--rpm", "1000000000", "--tpm", "1000000000000"]


def _key(config: Path, name: str, *limits: str) -> str:
    done = subprocess.run([EDGE_ROUTER, "keys", "create", "--name", name, *limits,
                           "--config", str(config)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _config(sim: SimProcess, tmp: Path, name: str, **sections: Any) -> dict[str, Any]:
    config = dict(sim.config)
    config["upstreams"] = [{**u, "api_key_env": KEY_ENV} for u in config["upstreams"]]
    config["auth"] = {"mode": "keys", "keys_file": f"{name}-keys.json"}
    config.update(sections)
    return config


def _measure(tmp: Path, config: dict[str, Any], name: str, keys: dict[str, list[str]],
             seconds: float) -> dict[str, LoadResult]:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    made = {label: _key(path, label, *limits) for label, limits in keys.items()}
    router = start_router(tmp, config, env={KEY_ENV: "sk-upstream-bench"}, name=name)
    url = router.url + "/v1/chat/completions"
    out = {}
    try:
        for label, key in made.items():
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
            run_load(url, BODY, headers, connections=1, seconds=1)  # warm-up
            out[label] = run_load(url, BODY, headers, connections=1, seconds=seconds)
    finally:
        router.stop()
    return out


def main(seconds: float = 5.0) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="edge-bench-keys-"))
    sim = start_simulator(tmp, 1)
    rows: list[tuple[str, LoadResult]] = []
    try:
        headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
        passthrough = start_router(tmp, sim.config, name="passthrough")
        try:
            url = passthrough.url + "/v1/chat/completions"
            run_load(url, BODY, headers, connections=1, seconds=1)
            rows.append(("passthrough", run_load(url, BODY, headers, connections=1,
                                                 seconds=seconds)))
        finally:
            passthrough.stop()
        memory = _measure(tmp, _config(sim, tmp, "memory"), "memory",
                          {"no-limits": [], "limited": LIMITS}, seconds)
        rows += [(f"keys, memory, {k}", r) for k, r in memory.items()]
        with moto_dynamodb.moto_server() as endpoint:
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
            moto_dynamodb.create_table(moto_dynamodb.client(endpoint), "bench")
            table = _config(sim, tmp, "table", health={
                "store": "dynamodb", "table": "bench", "table_region": "us-east-1",
                "timeout_ms": 2000})
            try:
                measured = _measure(tmp, table, "table", {"no-limits": [], "limited": LIMITS},
                                    seconds)
            finally:
                del os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
        rows += [(f"keys, table, {k}", r) for k, r in measured.items()]
    finally:
        sim.stop()
    base = rows[0][1].p50_ms
    print(f"\nKeys mode and per-key limits, 1 connection ({rows[0][1].tool}, {seconds:.0f} s each)")
    print(f"{'router':<28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'errors':>7}")
    for name, r in rows:
        print(f"{name:<28} {r.requests_per_s:>8.0f} {r.p50_ms:>8.3f} {r.p99_ms:>8.3f} "
              f"{r.p50_ms - base:>+8.3f} {r.errors:>7}")


if __name__ == "__main__":
    main()
