"""Open-loop load: requests at a fixed arrival rate, whatever the server does.

A closed loop (wrk, `loadgen.py`) waits for an answer before it sends again, so a slow server
slows the load down and hides its own latency ("coordinated omission"). Here request i is due at
`start + i / rate`; its latency counts from that scheduled time, so a stall of the generator or
of the server shows up in the figures instead of vanishing. Bounded three ways: a fixed count
(`rate x seconds`), a cap on requests in flight (a request due while the cap is reached is
`dropped`, never queued), and a per-request timeout; after the last send it waits `drain_s` for
the stragglers, then cancels them (`unfinished`).

Every second it prints: sent, answered (2xx), errors by status, p50/p99 latency of the answers
of that second, upstream attempts (the delta of the simulators' `/_sim/state` counters, if
given), and which upstream served (`x-edge-upstream`). `Report` keeps every `Sample` for drills.

    python -m bench.openloop --rate 200 --seconds 20 [--fault ap-northeast=status:503,rate=0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Say hello"}]}
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-openloop"}


@dataclass(slots=True)
class Sample:
    """One request: when it was due (s since start), how it ended, how long it took."""

    due: float
    status: int | str = "unfinished"  # an HTTP status, or timeout / connect / dropped / ...
    latency_s: float | None = None  # from `due` to the last body byte
    upstream: str | None = None  # x-edge-upstream
    attempts: int = 0  # x-edge-attempts
    complete: bool = False  # a whole JSON body (or an SSE stream ending in [DONE])
    code: str | None = None  # error.code of a JSON error body
    done_at: float | None = None


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@dataclass
class Report:
    samples: list[Sample]
    attempts: int  # upstream attempts seen by the simulators
    seconds: float
    max_lag_ms: float  # how far behind schedule the generator ever sent

    def window(self, start: float = 0.0, end: float = float("inf")) -> list[Sample]:
        return [s for s in self.samples if start <= s.due < end]

    @staticmethod
    def ok(samples: Sequence[Sample]) -> list[Sample]:
        return [s for s in samples if isinstance(s.status, int) and 200 <= s.status < 300]

    @staticmethod
    def errors(samples: Sequence[Sample]) -> Counter[str]:
        return Counter(str(s.status) for s in samples
                       if not (isinstance(s.status, int) and 200 <= s.status < 300))

    @staticmethod
    def latencies_ms(samples: Sequence[Sample]) -> list[float]:
        return [s.latency_s * 1000 for s in samples if s.latency_s is not None]

    def summary(self) -> str:
        n = len(self.samples)
        lat = self.latencies_ms(self.samples)
        errors = self.errors(self.samples)
        served = Counter(s.upstream for s in self.samples if s.upstream)
        partial = sum(1 for s in self.ok(self.samples) if not s.complete)
        ratio = self.attempts / n if n else float("nan")
        return (
            f"requests {n}  ok {len(self.ok(self.samples))} ({100 * len(self.ok(self.samples)) / max(n, 1):.2f} %)"
            f"  errors {dict(errors) or 0}  partial-2xx {partial}\n"
            f"latency ms p50 {percentile(lat, 50):.1f}  p99 {percentile(lat, 99):.1f}"
            f"  max {max(lat, default=float('nan')):.1f}  (generator max lag {self.max_lag_ms:.1f})\n"
            f"upstream attempts {self.attempts}  per request {ratio:.3f}"
            f"  x-edge-attempts {sum(s.attempts for s in self.samples)}\n"
            f"served by {dict(served.most_common())}"
        )


def inspect_body(body: bytes, *, stream: bool) -> tuple[bool, str | None]:
    """Whether `body` is whole (a JSON answer or error, or an SSE stream ending in [DONE]),
    and the `error.code` of an error body."""
    if stream and not body.lstrip().startswith(b"{"):
        return body.rstrip().endswith(b"data: [DONE]"), None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False, None
    if not isinstance(parsed, dict):
        return False, None
    error = parsed.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return "choices" in parsed or isinstance(error, dict), code if isinstance(code, str) else None


class SimCounters:
    """Upstream attempts from simulators' `/_sim/state?upstream=*` (any one port of each)."""

    def __init__(self, control_urls: Sequence[str]) -> None:
        self.urls = list(control_urls)
        self.last: dict[tuple[str, str], int] = {}
        self.per_upstream: Counter[str] = Counter()

    async def delta(self, session: aiohttp.ClientSession) -> int:
        """Attempts since the last call; a restarted simulator (counters back to 0) counts on."""
        total = 0
        for url in self.urls:
            try:
                async with session.get(url + "/state?upstream=*", ssl=False,
                                       timeout=aiohttp.ClientTimeout(total=1)) as resp:
                    data = await resp.json()
            except (aiohttp.ClientError, TimeoutError):
                continue  # a stopped simulator: its attempts are connect failures, not counted
            for item in data["upstreams"]:
                key, now = (url, item["id"]), int(item["requests"])
                before = self.last.get(key, 0)
                step = now - before if now >= before else now
                self.last[key] = now
                self.per_upstream[item["id"]] += step
                total += step
        return total


@dataclass
class OpenLoop:
    url: str
    rate: float
    seconds: float
    body: dict[str, object] = field(default_factory=lambda: dict(CHAT))
    headers: dict[str, str] = field(default_factory=lambda: dict(HEADERS))
    max_in_flight: int = 1000
    timeout_s: float = 30.0
    drain_s: float = 35.0
    counters: SimCounters | None = None
    quiet: bool = False
    on_second: Callable[[int], None] | None = None
    #: the run's samples, filled as it goes (for a live view such as the soak's)
    samples: list[Sample] = field(default_factory=list, init=False)

    async def run(self) -> Report:
        stream = bool(self.body.get("stream"))
        payload = orjson.dumps(self.body)
        count = round(self.rate * self.seconds)
        self.samples = samples = [Sample(due=i / self.rate) for i in range(count)]
        tasks: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        connector = aiohttp.TCPConnector(limit=self.max_in_flight, force_close=False)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session, \
                aiohttp.ClientSession() as control:
            if self.counters is not None:
                await self.counters.delta(control)  # baseline
                self.counters.per_upstream.clear()
            start = loop.time()

            async def one(sample: Sample) -> None:
                try:
                    async with session.post(self.url, data=payload, headers=self.headers) as r:
                        body = await r.read()
                        sample.status = r.status
                        sample.upstream = r.headers.get("x-edge-upstream")
                        sample.attempts = int(r.headers.get("x-edge-attempts", "0"))
                        sample.complete, sample.code = inspect_body(body, stream=stream)
                except TimeoutError:
                    sample.status = "timeout"
                except aiohttp.ClientConnectorError:
                    sample.status = "connect"
                except aiohttp.ClientError as exc:
                    sample.status = type(exc).__name__
                sample.done_at = loop.time() - start
                sample.latency_s = sample.done_at - sample.due

            reporter = asyncio.ensure_future(self._report(samples, start, control))
            max_lag = 0.0
            try:
                for sample in samples:
                    delay = start + sample.due - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    else:
                        max_lag = max(max_lag, -delay)
                    if len(tasks) >= self.max_in_flight:
                        sample.status = "dropped"
                        sample.done_at = sample.due
                        continue
                    task = asyncio.ensure_future(one(sample))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if tasks:
                    await asyncio.wait(set(tasks), timeout=self.drain_s)
            finally:
                for task in list(tasks):
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reporter
            attempts = 0
            if self.counters is not None:
                await asyncio.sleep(0.3)  # let late attempts land in the counters
                await self.counters.delta(control)
                attempts = sum(self.counters.per_upstream.values())
            elapsed = loop.time() - start
        return Report(samples, attempts, elapsed, max_lag * 1000)

    async def _report(self, samples: list[Sample], start: float,
                      control: aiohttp.ClientSession) -> None:
        loop = asyncio.get_running_loop()
        if not self.quiet:
            print(f"{'t':>4} {'sent':>5} {'ok':>5} {'p50ms':>7} {'p99ms':>8} {'attempts':>8}"
                  "  errors / served by", flush=True)
        second = 0
        while True:
            await asyncio.sleep(max(0.0, start + second + 1 - loop.time()))
            lo, hi = second, second + 1
            sent = sum(1 for s in samples if lo <= s.due < hi and s.status != "dropped")
            done = [s for s in samples if s.done_at is not None and lo <= s.done_at < hi]
            attempts = await self.counters.delta(control) if self.counters is not None else 0
            if self.on_second is not None:
                self.on_second(second)
            if not self.quiet:
                lat = Report.latencies_ms(done)
                errors = Report.errors(done)
                served = Counter(s.upstream for s in done if s.upstream)
                print(f"{second:>4} {sent:>5} {len(Report.ok(done)):>5} "
                      f"{percentile(lat, 50):>7.1f} {percentile(lat, 99):>8.1f} {attempts:>8}  "
                      f"{dict(errors) or ''} {dict(served.most_common())}", flush=True)
            second += 1


def main(argv: Sequence[str] | None = None) -> int:
    from tests.e2e.procs import start_router, start_simulator

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200, help="requests/s (default 200)")
    parser.add_argument("--seconds", type=float, default=10, help="duration (default 10)")
    parser.add_argument("--upstreams", type=int, default=3)
    parser.add_argument("--stream", action="store_true", help="streaming chat requests")
    parser.add_argument("--max-in-flight", type=int, default=1000)
    parser.add_argument("--fault", action="append", default=[], metavar="ID=SPEC",
                        help="a simulator fault (repeatable), see `edge-router simulate --help`")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="edge-openloop-"))
    sim = start_simulator(tmp, args.upstreams, *[f"--fault={f}" for f in args.fault])
    router = start_router(tmp, sim.config)
    try:
        body = {**CHAT, "stream": True} if args.stream else dict(CHAT)
        load = OpenLoop(router.url + "/v1/chat/completions", args.rate, args.seconds, body=body,
                        max_in_flight=args.max_in_flight,
                        counters=SimCounters([sim.control_url]))
        started = time.monotonic()
        report = asyncio.run(load.run())
        print(f"\n{args.rate:g} req/s for {args.seconds:g} s "
              f"(ran {time.monotonic() - started:.1f} s)\n{report.summary()}")
    finally:
        router.stop()
        sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
