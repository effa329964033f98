"""`make chaos`: failure drills under open-loop load, each with its figures and PASS/FAIL.

Real processes on loopback: `edge-router simulate` (one or more, so one can be killed) and a
fresh `edge-router serve` per drill, driven by `bench.openloop` at a fixed rate. The targets are
issue 7's; the drills' timeouts are shortened (below) so the whole run fits in a few minutes:

  1 steady state               5 headers-then-stall, truncated JSON at 200, trickle
  2 home killed, restarted     6 host that does not resolve, TLS certificate that fails
  3 every upstream 30 % 503    7 health table stopped, slow, hanging (DynamoDB on moto)
  4 home slow, latency strategy 8 30 % 503 over 16 one-request Lambda containers, one table

    python -m bench.chaos [--only 2,5] [--rate-scale 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import dataclasses
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.procs import (
    SHORT_ROUTING,
    RouterProcess,
    SimProcess,
    http,
    start_router,
    start_simulator,
)

from .openloop import OpenLoop, Report, SimCounters, percentile

#: Shortened timeouts for the drills (production defaults: 2 / 20 / 25 s, cooldown 30 s).
ROUTING = SHORT_ROUTING
BREAKER = {"consecutive_failures": 3, "consecutive_errors": 10, "cooldown_s": 1,
           "max_cooldown_s": 4}


@dataclass
class Check:
    name: str
    measured: str
    target: str
    ok: bool


@dataclass
class Outcome:
    drill: str
    checks: list[Check] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)

    def check(self, name: str, measured: str, target: str, ok: bool) -> None:
        self.checks.append(Check(name, measured, target, bool(ok)))

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def print(self) -> None:
        for line in self.figures:
            print(line)
        for c in self.checks:
            print(f"  {'PASS' if c.ok else 'FAIL'}  {c.name:<52} {c.measured:>16}  "
                  f"target {c.target}")
        print(f"== drill {self.drill}: {'PASS' if self.ok else 'FAIL'}\n", flush=True)


class Lab:
    """Processes of one drill, stopped at the end whatever happens."""

    def __init__(self, root: Path, rate_scale: float) -> None:
        self.root = root
        self.rate_scale = rate_scale
        self._stops: list[Callable[[], None]] = []

    def rate(self, base: float) -> float:
        return max(10.0, base * self.rate_scale)

    def sim(self, count: int, *extra: str, name: str = "sim", port: int | None = None
            ) -> SimProcess:
        tmp = self.root / f"{name}-{len(self._stops)}"
        tmp.mkdir(parents=True, exist_ok=True)
        args = [*extra, "--base-port", str(port)] if port else list(extra)
        proc = start_simulator(tmp, count, *args)
        if port:  # the last --base-port wins: the real ports are the ones written in the config
            ports = [int(u["base_url"].rsplit(":", 1)[1].split("/")[0])
                     for u in proc.config["upstreams"]]
            proc = dataclasses.replace(proc, ports=ports)
        self._stops.append(proc.stop)
        return proc

    def router(self, config: Mapping[str, Any], *, routing: Mapping[str, Any] | None = None,
               breaker: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None,
               **sections: Any) -> RouterProcess:
        data = copy.deepcopy(dict(config))
        data["routing"] = {**ROUTING, **(routing or {})}
        data["breaker"] = {**BREAKER, **(breaker or {})}
        data.update(sections)
        router = start_router(self.root, data, env=env, name=f"router-{len(self._stops)}")
        self._stops.append(router.stop)
        return router

    def on_exit(self, stop: Callable[[], None]) -> None:
        self._stops.append(stop)

    def close(self) -> None:
        for stop in reversed(self._stops):
            stop()
        self._stops.clear()


def control_url(sim: SimProcess) -> str:
    return sim.control_url  # its own port: up while a drill refuses an upstream's


def status(router: RouterProcess) -> dict[str, Any]:
    _, body = http("GET", router.url + "/status")
    return body  # type: ignore[no-any-return]


def upstream_status(router: RouterProcess) -> dict[str, dict[str, Any]]:
    return {u["id"]: u for u in status(router)["upstreams"]}


async def load(router: RouterProcess, rate: float, seconds: float, *,
               sims: Sequence[SimProcess] = (), script: Awaitable[None] | None = None,
               **options: Any) -> tuple[Report, SimCounters]:
    """Open-loop chat load on `router` while `script` (fault injection) runs alongside."""
    counters = SimCounters([control_url(s) for s in sims])
    generator = OpenLoop(router.url + "/v1/chat/completions", rate, seconds, counters=counters,
                         **options)
    if script is None:
        return await generator.run(), counters
    report, _ = await asyncio.gather(generator.run(), script)
    return report, counters


async def at(t0: float, when: float, action: Callable[[], object], note: str) -> None:
    """Run a blocking `action` (kill, restart, set a fault) at `when` s after `t0`."""
    await asyncio.sleep(max(0.0, t0 + when - time.monotonic()))
    await asyncio.to_thread(action)
    print(f"  [{time.monotonic() - t0:5.1f} s] {note}", flush=True)


def latency_line(label: str, report: Report, samples: Sequence[Any] | None = None) -> str:
    chosen = report.samples if samples is None else samples
    lat = Report.latencies_ms(chosen)
    return (f"  {label}: n={len(chosen)} p50 {percentile(lat, 50):.1f} ms  "
            f"p99 {percentile(lat, 99):.1f} ms  max {max(lat, default=float('nan')):.1f} ms")


Drill = Callable[[Lab], Awaitable[Outcome]]


def drills() -> dict[str, Drill]:
    from . import drill_lambda_budget, drill_table, drills_core, drills_faults

    return {**drills_core.DRILLS, **drills_faults.DRILLS, **drill_table.DRILLS,
            **drill_lambda_budget.DRILLS}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated drill numbers (default all)")
    parser.add_argument("--rate-scale", type=float, default=1.0,
                        help="multiply every drill's arrival rate (default 1)")
    args = parser.parse_args(argv)
    chosen = {d.strip() for d in args.only.split(",") if d.strip()}
    results: list[Outcome] = []
    started = time.monotonic()
    for number, drill in drills().items():
        if chosen and number not in chosen:
            continue
        root = Path(tempfile.mkdtemp(prefix=f"edge-chaos-{number}-"))
        lab = Lab(root, args.rate_scale)
        try:
            outcome = asyncio.run(drill(lab))
        finally:
            lab.close()
            shutil.rmtree(root, ignore_errors=True)
        outcome.print()
        results.append(outcome)
    print(f"chaos summary ({time.monotonic() - started:.0f} s)")
    for outcome in results:
        print(f"  {'PASS' if outcome.ok else 'FAIL'}  drill {outcome.drill}")
    return 0 if results and all(o.ok for o in results) else 1


if __name__ == "__main__":
    sys.exit(main())
