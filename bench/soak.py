"""`make soak`: the router under steady open-loop load for minutes, watching for leaks.

Starts `edge-router simulate --profile fast` (three upstreams) and `edge-router serve`, sends
chat requests at a fixed rate (`bench.openloop`) with a light mix of faults by default (2 % of
the home upstream's answers are connection resets, 2 % of the next one's are 503s: the failover,
reset and error paths run all along, where a leaked connection would hide), and every `--every` seconds records the
router's resident memory (VmRSS) and open file descriptors from /proc/<pid>, with the requests
of that interval. Passes when no request failed and, after the warm-up (the first minute, or
a fifth of a shorter run), neither RSS nor the descriptor count grew more than 10 %: the median
of the last three samples against the median of the first three after the warm-up (a leak is a
trend; one connection being replaced at the moment of a sample is not).

    python -m bench.soak [--minutes 10] [--rate 100] [--every 10] [--fault ID=SPEC | --no-faults]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.procs import start_router, start_simulator

from .openloop import OpenLoop, Report, SimCounters, percentile

FAULTS = ["ap-northeast=reset,rate=0.02", "ap-southeast=status:503,rate=0.02"]


@dataclass(frozen=True)
class Point:
    t: float
    rss_kib: int
    fds: int
    requests: int
    errors: int
    p99_ms: float


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def growth(values: list[int]) -> tuple[float, float, float]:
    """(baseline, end, growth): medians of the first and the last three values."""
    base, end = statistics.median(values[:3]), statistics.median(values[-3:])
    return base, end, (end - base) / base if base else 0.0


async def soak(url: str, pid: int, *, rate: float, seconds: float, every: float,
               counters: SimCounters) -> tuple[Report, list[Point]]:
    load = OpenLoop(url, rate, seconds, counters=counters, quiet=True, max_in_flight=500)
    points: list[Point] = []

    async def sample() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        tick = 0
        print(f"{'t s':>6} {'RSS MiB':>8} {'fds':>5} {'requests':>9} {'errors':>7} {'p99 ms':>8}",
              flush=True)
        while True:
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * every - loop.time()))
            t = loop.time() - start
            done = [s for s in load.samples
                    if s.done_at is not None and t - every <= s.done_at < t]
            point = Point(t, rss_kib(pid), open_fds(pid), len(done),
                          sum(Report.errors(done).values()),
                          percentile(Report.latencies_ms(done), 99))
            points.append(point)
            print(f"{point.t:>6.0f} {point.rss_kib / 1024:>8.1f} {point.fds:>5} "
                  f"{point.requests:>9} {point.errors:>7} {point.p99_ms:>8.1f}", flush=True)

    sampler = asyncio.ensure_future(sample())
    try:
        report = await load.run()
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
    return report, points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="duration (default 10)")
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s (default 100)")
    parser.add_argument("--every", type=float, default=10.0, help="sample period s (default 10)")
    parser.add_argument("--fault", action="append", metavar="ID=SPEC",
                        help=f"simulator fault, repeatable (default {' '.join(FAULTS)})")
    parser.add_argument("--no-faults", action="store_true", help="healthy upstreams only")
    args = parser.parse_args(argv)
    faults = [] if args.no_faults else (args.fault or FAULTS)
    seconds = args.minutes * 60
    warmup = min(60.0, seconds / 5)
    tmp = Path(tempfile.mkdtemp(prefix="edge-soak-"))
    sim = start_simulator(tmp, 3, *[f"--fault={f}" for f in faults])
    router = start_router(tmp, sim.config)
    print(f"soak: {args.rate:g} req/s for {args.minutes:g} min against router pid "
          f"{router.proc.pid}; warm-up {warmup:.0f} s; faults {faults or 'none'}", flush=True)
    try:
        report, points = asyncio.run(soak(
            router.url + "/v1/chat/completions", router.proc.pid, rate=args.rate,
            seconds=seconds, every=args.every,
            counters=SimCounters([sim.control_url])))
    finally:
        router.stop()
        sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    after = [p for p in points if p.t >= warmup]
    if not after:
        print("soak: too short for a sample after the warm-up", file=sys.stderr)
        return 1
    rss_base, rss_end, rss_growth = growth([p.rss_kib for p in after])
    fd_base, fd_end, fd_growth = growth([p.fds for p in after])
    failed = sum(Report.errors(report.samples).values())
    print(f"\n{report.summary()}")
    print(f"RSS MiB: first {points[0].rss_kib / 1024:.1f}, after warm-up {rss_base / 1024:.1f}, "
          f"max {max(p.rss_kib for p in after) / 1024:.1f}, end {rss_end / 1024:.1f}")
    print(f"open fds: first {points[0].fds}, after warm-up {fd_base:g}, "
          f"max {max(p.fds for p in after)}, end {fd_end:g}")
    checks = [
        ("failed requests", str(failed), "0", failed == 0),
        ("RSS growth after warm-up", f"{rss_growth:.1%}", "< 10 %", rss_growth < 0.10),
        ("fd growth after warm-up", f"{fd_growth:.1%}", "< 10 %", fd_growth < 0.10),
    ]
    for name, measured, target, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name:<28} {measured:>8}  target {target}")
    ok = all(c[3] for c in checks)
    print(f"== soak: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
