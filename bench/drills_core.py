"""Drills 1-4: steady state, the home upstream killed and restarted, a 30 % brown-out on every
upstream, and a slow home upstream under the latency strategy (see `bench/chaos.py`)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from .chaos import BREAKER, Lab, Outcome, at, latency_line, load, status
from .openloop import Report, Sample, percentile


def _indent(text: str) -> list[str]:
    return ["  " + line for line in text.splitlines()]


def _errors(samples: list[Sample]) -> int:
    return len(samples) - len(Report.ok(samples))


def _served(samples: list[Sample]) -> dict[str, int]:
    return dict(Counter(s.upstream or "-" for s in samples).most_common())


async def steady(lab: Lab) -> Outcome:
    out = Outcome("1: steady state")
    sim = lab.sim(3)
    router = lab.router(sim.config)
    rate, seconds = lab.rate(200), 15
    print(f"drill 1: {rate:g} req/s for {seconds} s, three healthy upstreams", flush=True)
    report, _ = await load(router, rate, seconds, sims=[sim])
    n = len(report.samples)
    p99 = percentile(Report.latencies_ms(report.samples), 99)
    out.figures += _indent(report.summary())
    out.check("client errors (non-2xx, timeouts, dropped)", str(_errors(report.samples)), "0",
              _errors(report.samples) == 0)
    out.check("upstream attempts ÷ requests", f"{report.attempts / n:.3f}", "1.000",
              report.attempts == n)
    out.check("p99 latency (from the scheduled send time)", f"{p99:.1f} ms", "< 50 ms", p99 < 50)
    return out


def _config(homes: list[tuple[str, str]]) -> dict[str, Any]:
    ids = [i for i, _ in homes]
    upstreams = [{"id": i, "base_url": url, "fallbacks": ids[1:] if n == 0 else []}
                 for n, (i, url) in enumerate(homes)]
    return {"upstreams": upstreams, "home": {"local": ids[0]}}


async def home_killed(lab: Lab) -> Outcome:
    out = Outcome("2: home upstream killed, then restarted")
    home = lab.sim(1, name="home")
    rest = lab.sim(2, name="rest")
    port = home.ports[0]
    urls = [("home", home.config["upstreams"][0]["base_url"])] + [
        (f"fallback-{n + 1}", u["base_url"]) for n, u in enumerate(rest.config["upstreams"])]
    router = lab.router(_config(urls))
    rate, seconds, kill_at, restart_at = lab.rate(200), 22, 5.0, 11.0
    print(f"drill 2: {rate:g} req/s for {seconds} s; home process SIGKILLed at {kill_at:g} s, "
          f"restarted at {restart_at:g} s; breaker {BREAKER}", flush=True)
    sims = [home, rest]

    def restart() -> None:
        sims.append(lab.sim(1, name="home-again", port=port))

    async def script() -> None:
        t0 = time.monotonic()
        await at(t0, kill_at, home.proc.kill, "home simulator process killed (SIGKILL)")
        await at(t0, restart_at, restart, "home simulator process restarted on the same port")

    report, _ = await load(router, rate, seconds, sims=sims, script=script())
    failures = [s for s in report.samples if not Report.ok([s])]
    threshold = BREAKER["consecutive_failures"]
    before = report.window(0, kill_at)
    dead = report.window(kill_at, restart_at)
    after = report.window(restart_at)
    back = next((t for t in range(int(restart_at), int(seconds))
                 if (w := report.window(t, t + 1))
                 and sum(s.upstream == "home" for s in w) >= 0.95 * len(w)), None)
    settled = report.window(restart_at + 5)
    home_share = sum(s.upstream == "home" for s in settled) / max(len(settled), 1)
    metrics = status(router).get("metrics", {})
    out.figures += _indent(report.summary())
    out.figures += [
        f"  served before the kill {_served(before)}",
        f"  served while home was dead {_served(dead)}",
        f"  served after the restart {_served(after)}",
        f"  client-visible failures at t = {[round(s.due, 2) for s in failures]} "
        f"{dict(Report.errors(failures))}",
        f"  home circuit opened {metrics.get('CircuitOpened.home', 0)} time(s); "
        f"traffic back home (≥ 95 % of a second) at t = {back} s",
        latency_line("while home was dead", report, dead),
    ]
    out.check("client-visible errors (whole run)", str(len(failures)),
              f"≤ {threshold} (failure_threshold)", len(failures) <= threshold)
    out.check("errors outside the detection window", str(
        sum(1 for s in failures if not kill_at <= s.due < kill_at + 2)), "0",
        all(kill_at <= s.due < kill_at + 2 for s in failures))
    out.check("share served by home, 5 s after the restart", f"{home_share:.1%}", "≥ 99 %",
              home_share >= 0.99)
    out.check("back home within cooldown cap + 1 s of restart",
              "never" if back is None else f"{back - restart_at:.0f} s",
              f"≤ {BREAKER['max_cooldown_s'] + 1} s",
              back is not None and back - restart_at <= BREAKER["max_cooldown_s"] + 1)
    return out


async def brownout(lab: Lab) -> Outcome:
    out = Outcome("3: every upstream answers 30 % 503")
    sim = lab.sim(3, "--fault", "*=status:503,rate=0.3")
    router = lab.router(sim.config)
    rate, seconds = lab.rate(200), 20
    print(f"drill 3: {rate:g} req/s for {seconds} s, status:503,rate=0.3 on all three; "
          "retry budget 0.2, 10/s", flush=True)
    report, _ = await load(router, rate, seconds, sims=[sim])
    n = len(report.samples)
    ratio = report.attempts / n
    success = len(Report.ok(report.samples)) / n
    metrics = status(router).get("metrics", {})
    exhausted = int(metrics.get("RetryBudgetExhausted", 0))
    out.figures += _indent(report.summary())
    out.figures += [f"  RetryBudgetExhausted {exhausted}, CircuitOpened "
                    f"{metrics.get('CircuitOpened', 0)} (runs of 10 soft errors: ~never at 30 %)",
                    "  the 20 % ratio binds above retry_budget_min_per_s / 0.2 = 50 req/s per "
                    "process; below it the floor pays a retry for every failure"]
    out.check("upstream attempts ÷ client requests", f"{ratio:.3f}", "≤ 1.25", ratio <= 1.25)
    out.check("client success rate", f"{success:.1%}", "≥ 70 % (one attempt each)",
              success >= 0.70)
    out.check("retry budget engaged (RetryBudgetExhausted)", str(exhausted), "> 0", exhausted > 0)
    return out


async def slow_home(lab: Lab) -> Outcome:
    out = Outcome("4: home slow (2 s before headers), latency strategy")
    sim = lab.sim(3)
    first_byte = 5.0
    router = lab.router(sim.config, routing={"strategy": "latency",
                                             "first_byte_timeout_s": first_byte})
    rate, seconds, slow_at, well_at = lab.rate(200), 16, 5.0, 11.0
    print(f"drill 4: {rate:g} req/s for {seconds} s, strategy latency, first-byte timeout "
          f"{first_byte:g} s; home gets delay:2 at {slow_at:g} s, is fast again at {well_at:g} s",
          flush=True)

    async def script() -> None:
        t0 = time.monotonic()
        await at(t0, slow_at, lambda: sim.set_fault("ap-northeast", "delay:2"),
                 "ap-northeast: delay:2 (2 s before the headers)")
        await at(t0, well_at, lambda: sim.set_fault("ap-northeast", "ok"),
                 "ap-northeast: fast again")

    report, counters = await load(router, rate, seconds, sims=[sim], script=script())
    slow = report.window(slow_at, well_at)
    on_home = sum(1 for s in slow if s.upstream == "ap-northeast")
    share = on_home / max(len(slow), 1)
    lat = Report.latencies_ms(report.samples)
    p99 = percentile(lat, 99)
    opened = status(router).get("metrics", {}).get("CircuitOpened.ap-northeast", 0)
    out.figures += _indent(report.summary())
    out.figures += [
        f"  served before the slowdown {_served(report.window(0, slow_at))}",
        f"  served while home was slow {_served(slow)}",
        f"  served after home was fast again {_served(report.window(well_at))} (no check: without"
        " samples its 2 s estimate never decays, see the report)",
        f"  upstream attempts per upstream {dict(counters.per_upstream)}",
        f"  home circuit opened {opened} time(s) (the strategy, not the breaker, moved traffic)",
    ]
    out.check("client errors", str(_errors(report.samples)), "0", _errors(report.samples) == 0)
    out.check("share of requests served by the slow home", f"{share:.2%} ({on_home})", "≤ 1 %",
              share <= 0.01)
    out.check("p99 of the whole run", f"{p99:.1f} ms", f"< first-byte {first_byte * 1000:.0f} ms",
              p99 < first_byte * 1000)
    out.check("p99 of the whole run", f"{p99:.1f} ms", "< 2000 ms (the slow delay)", p99 < 2000)
    return out


DRILLS = {"1": steady, "2": home_killed, "3": brownout, "4": slow_home}
