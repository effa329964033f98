"""Drill 8: the retry budget under Lambda (SPEC §14): many one-request-at-a-time containers in
one region, every upstream answering 30 % 503, one health table (a `moto_server` process).

`CONTAINERS` router Lambda handlers (`build_router_handler`, Mangum, `events/chat.json`) each
serve one request at a time on their own thread, as Lambda containers do, sharing nothing but
the table; the simulated upstreams answer in 40-90 ms (the seed profile). Each container alone is far below the 50 req/s where a per-process budget's 20 %
ratio beats its floor (10/s x 10 s), so on its own count every failed attempt would be retried.
With the region's requests and retries read from the table's counters (every container `ADD`s
its attempts and retries at each sync), the budget binds for the region:
upstream attempts per client request stay near 1.2.

The same load runs first with the memory store (no shared counters: per-container budgets
only), for comparison.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import yaml
from tests.e2e.procs import free_ports
from tests.integration.lambda_harness import FakeContext, event

from edge_router.runtime.lambda_buffered import RouterHandler, build_router_handler

from .chaos import BREAKER, ROUTING, Lab, Outcome
from .drill_table import REGION, TABLE, _start_moto

CONTAINERS = 16
SECONDS = 20.0
WARMUP_S = 3.0
FAULT = "*=status:503,rate=0.3"


def _environ(lab: Lab, config: Mapping[str, Any], name: str, table_url: str | None
             ) -> dict[str, str]:  # fmt: skip
    data = dict(config)
    data["routing"] = {**ROUTING, "strategy": "failover", "max_attempts": 3}
    data["breaker"] = dict(BREAKER)
    data["health"] = {"sync_interval_s": 1, "timeout_ms": 200}
    path = lab.root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    environ = {"EDGE_ROUTER_CONFIG": str(path), "AWS_REGION": REGION,
               "EDGE_ROUTER_REGION": REGION, "POWERTOOLS_SERVICE_NAME": "edge-router",
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip
    if table_url is not None:
        environ.update(EDGE_ROUTER_HEALTH_STORE="dynamodb", EDGE_ROUTER_HEALTH_TABLE=TABLE,
                       EDGE_ROUTER_HEALTH_TABLE_REGION=REGION)  # fmt: skip
    return environ


Tally = tuple[int, int, int]  # requests, upstream attempts, 200s


def _run(handlers: list[RouterHandler], seconds: float) -> tuple[Tally, Tally]:
    """Each handler on its own thread, one request at a time, for `seconds`: the tally of
    every request, and of those after the warm-up (`WARMUP_S`: a container's first sync only
    sets its baseline; the region's counts arrive from its second)."""
    totals = [0] * 6
    lock = threading.Lock()
    start = time.monotonic()
    stop, warm = start + seconds, start + WARMUP_S

    def container(handler: RouterHandler) -> None:
        mine = [0] * 6
        while (now := time.monotonic()) < stop:
            response = handler(event("chat"), FakeContext())
            tally = (1, int(response["headers"].get("x-edge-attempts", "0")),
                     int(response["statusCode"] == 200))  # fmt: skip
            for i, value in enumerate(tally):
                mine[i] += value
                mine[3 + i] += value if now >= warm else 0
        with lock:
            for i, value in enumerate(mine):
                totals[i] += value

    threads = [threading.Thread(target=container, args=(h,)) for h in handlers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (totals[0], totals[1], totals[2]), (totals[3], totals[4], totals[5])


def _containers(environ: Mapping[str, str]) -> list[RouterHandler]:
    devnull = open(os.devnull, "w")  # noqa: SIM115 - EMF lines: lives as long as the handlers
    return [build_router_handler(environ, write_metrics=devnull.write)
            for _ in range(CONTAINERS)]  # fmt: skip


def _measure(environ: Mapping[str, str], seconds: float) -> tuple[Tally, Tally]:
    handlers = _containers(environ)
    try:
        return _run(handlers, seconds)
    finally:
        for handler in handlers:
            handler.close()


async def lambda_budget(lab: Lab) -> Outcome:
    out = Outcome("8: retry budget under Lambda, 16 one-request containers, 30 % 503")
    # the seed profile's 40-90 ms per answer: a container's own rate stays far below 50 req/s
    sim = lab.sim(3, "--profile", "seed", "--fault", FAULT)
    moto_port = free_ports(1)[0]
    moto = _start_moto(moto_port)
    lab.on_exit(lambda: (moto.kill(), moto.wait()))
    table_url = f"http://127.0.0.1:{moto_port}"
    seconds = max(SECONDS * lab.rate_scale, 8.0)
    print(f"drill 8: {CONTAINERS} Lambda handlers, one request at a time each, {seconds:g} s per "
          f"run; {FAULT} on all three; retry budget 0.2, 10/s", flush=True)
    # botocore reads the endpoint and credentials from the process's environment
    process_env = {"AWS_ENDPOINT_URL_DYNAMODB": table_url, "AWS_ACCESS_KEY_ID": "testing",
                   "AWS_SECRET_ACCESS_KEY": "testing",
                   "POWERTOOLS_LOG_LEVEL": "ERROR"}  # a sync cut by the 200 ms bound warns
    saved = {k: os.environ.get(k) for k in process_env}
    os.environ.update(process_env)
    try:
        alone = await asyncio.to_thread(
            _measure, _environ(lab, sim.config, "memory", None), seconds / 2)
        region = await asyncio.to_thread(
            _measure, _environ(lab, sim.config, "table", table_url), seconds)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    ratios = {}
    for label, runs in (("per-container budgets (memory store)", alone),
                        ("region-wide budget (health table)", region)):  # fmt: skip
        for part, (n, attempts, ok) in zip(("all", f"after {WARMUP_S:g} s"), runs, strict=True):
            ratios[label, part] = attempts / max(n, 1)
            out.figures.append(f"  {label}, {part}: {n} requests, {attempts / max(n, 1):.3f} "
                               f"attempts/request, success {ok / max(n, 1):.1%}")
    (n, attempts, ok), (n_warm, attempts_warm, _) = region
    steady = attempts_warm / max(n_warm, 1)
    out.check("region-wide, after warm-up: attempts ÷ requests", f"{steady:.3f}", "≤ 1.25",
              n_warm > 0 and steady <= 1.25)
    out.check("region-wide, whole run: attempts ÷ requests", f"{attempts / max(n, 1):.3f}",
              "≤ 1.35", n > 0 and attempts / n <= 1.35)
    out.check("region-wide: client success rate", f"{ok / max(n, 1):.1%}", "≥ 70 %",
              n > 0 and ok / n >= 0.70)
    alone_ratio = alone[1][1] / max(alone[1][0], 1)
    out.check("per-container budgets alone, after warm-up", f"{alone_ratio:.3f}",
              f"> {steady:.3f}", alone_ratio > steady)
    return out


DRILLS: dict[str, Any] = {"8": lambda_budget}
