"""Drills 5-6: answers that break after the headers (stall, truncated JSON at 200, trickle) and
upstreams that cannot be reached (a host name that does not resolve, a TLS certificate that
fails verification). What SPEC §5 says must happen, per fault:

  stall      no body within first_byte_timeout_s: a hard failure, fail over (the client gets
             another upstream's answer, about first_byte_timeout_s late)
  truncated  200 with half a JSON body: a non-JSON answer, a soft failure, fail over
  trickle    a byte every 50 ms is progress, not a stall: the idle limit never fires; the whole
             answer comes back if it fits the deadline, else 504 `deadline_exceeded`
  no DNS, bad TLS  connect failures: hard failures, fail over; the circuits open
In every case nothing partial reaches a non-streaming client and nothing outlives the deadline.
"""

from __future__ import annotations

from typing import Any

from .chaos import ROUTING, Lab, Outcome, latency_line, load, status, upstream_status
from .drills_core import _indent
from .openloop import Report, Sample


def _unfinished(samples: list[Sample]) -> int:
    return sum(1 for s in samples if not isinstance(s.status, int))


def _not_whole(samples: list[Sample]) -> int:
    return sum(1 for s in samples if isinstance(s.status, int) and not s.complete)


def _common(out: Outcome, label: str, report: Report, max_s: float) -> None:
    lat = Report.latencies_ms(report.samples)
    worst = max(lat, default=0.0)
    out.check(f"{label}: unfinished (hung, timed out, dropped)", str(_unfinished(report.samples)),
              "0", _unfinished(report.samples) == 0)
    out.check(f"{label}: answers not whole JSON (partial)", str(_not_whole(report.samples)), "0",
              _not_whole(report.samples) == 0)
    out.check(f"{label}: slowest request", f"{worst:.0f} ms", f"< {max_s * 1000:.0f} ms",
              worst < max_s * 1000)


async def _phase(lab: Lab, sim: Any, fault: str, *, rate: float, seconds: float,
                 routing: dict[str, Any] | None = None) -> tuple[Report, dict[str, Any]]:
    sim.reset()
    router = lab.router(sim.config, routing=routing)
    sim.set_fault("ap-northeast", fault)
    print(f"-- home ap-northeast: {fault}; {rate:g} req/s for {seconds:g} s; routing "
          f"{ {**ROUTING, **(routing or {})} }", flush=True)
    report, _ = await load(router, rate, seconds, sims=[sim], drain_s=40, timeout_s=40)
    metrics = status(router).get("metrics", {})
    router.stop()
    return report, metrics


async def broken_bodies(lab: Lab) -> Outcome:
    out = Outcome("5: headers then stall, truncated JSON at 200, trickle")
    sim = lab.sim(3)
    first_byte = ROUTING["first_byte_timeout_s"]
    print("drill 5: four phases, a fresh router each", flush=True)

    report, metrics = await _phase(lab, sim, "stall", rate=lab.rate(50), seconds=6)
    out.figures += ["  stall:", *_indent(report.summary())]
    out.check("stall: client errors", str(len(Report.errors(report.samples))), "0",
              not Report.errors(report.samples))
    _common(out, "stall", report, first_byte + 1.0)
    out.check("stall: home circuit opened", str(metrics.get("CircuitOpened.ap-northeast", 0)),
              "≥ 1", metrics.get("CircuitOpened.ap-northeast", 0) >= 1)

    report, metrics = await _phase(lab, sim, "truncated", rate=lab.rate(50), seconds=6)
    out.figures += ["  truncated:", *_indent(report.summary())]
    out.check("truncated: client errors", str(len(Report.errors(report.samples))), "0",
              not Report.errors(report.samples))
    _common(out, "truncated", report, 1.0)
    out.check("truncated: home circuit opened",
              str(metrics.get("CircuitOpened.ap-northeast", 0)), "≥ 1",
              metrics.get("CircuitOpened.ap-northeast", 0) >= 1)

    # 380 bytes at 50 ms each: ~19 s, inside the production deadline of 25 s
    deadline = 25.0
    report, _ = await _phase(lab, sim, "trickle,rate=0.2", rate=lab.rate(20), seconds=5,
                             routing={"deadline_s": deadline})
    slow = [s for s in report.samples if s.latency_s is not None and s.latency_s > 5]
    out.figures += ["  trickle within the deadline:", *_indent(report.summary()),
                    latency_line("trickled answers", report, slow)]
    out.check("trickle ≤ deadline: client errors", str(len(Report.errors(report.samples))), "0",
              not Report.errors(report.samples))
    out.check("trickle ≤ deadline: trickled answers delivered whole", str(len(slow)), "> 0",
              len(slow) > 0 and all(s.complete for s in slow))
    _common(out, "trickle ≤ deadline", report, deadline)

    deadline = 6.0
    report, _ = await _phase(lab, sim, "trickle,rate=0.2", rate=lab.rate(20), seconds=4,
                             routing={"deadline_s": deadline})
    failed = [s for s in report.samples if not Report.ok([s])]
    codes = {(s.status, s.code) for s in failed}
    out.figures += [f"  trickle past a {deadline:g} s deadline:", *_indent(report.summary()),
                    latency_line("cut by the deadline", report, failed)]
    out.check("trickle > deadline: every failure is 504 deadline_exceeded", str(sorted(codes)),
              "{(504, 'deadline_exceeded')}", bool(failed) and codes == {(504, "deadline_exceeded")})
    _common(out, "trickle > deadline", report, deadline + 0.5)
    return out


async def unreachable(lab: Lab) -> Outcome:
    out = Outcome("6: host name that does not resolve, TLS certificate that fails verification")
    tls = lab.sim(1, "--tls", name="tls")
    good = lab.sim(2, name="good")
    urls = [("no-dns", "http://nonexistent.invalid/v1"),
            ("bad-tls", tls.config["upstreams"][0]["base_url"]),
            *[(f"good-{n + 1}", u["base_url"]) for n, u in enumerate(good.config["upstreams"])]]
    ids = [i for i, _ in urls]
    config = {"upstreams": [{"id": i, "base_url": u, "fallbacks": ids[1:] if i == ids[0] else []}
                            for i, u in urls], "home": {"local": ids[0]}}
    router = lab.router(config)
    rate, seconds = lab.rate(100), 10
    print(f"drill 6: {rate:g} req/s for {seconds} s; order {ids}", flush=True)
    report, counters = await load(router, rate, seconds, sims=[tls, good])
    state = upstream_status(router)
    metrics = status(router).get("metrics", {})
    n = len(report.samples)
    mean_attempts = sum(s.attempts for s in report.samples) / n
    reached_tls = sum(v for (url, _), v in counters.last.items() if url.startswith("https"))
    out.figures += _indent(report.summary())
    for upstream_id in ("no-dns", "bad-tls"):
        s = state[upstream_id]
        out.figures.append(f"  {upstream_id}: state {s['state']}, errors {s['errors']}, "
                           f"circuit opened {metrics.get('CircuitOpened.' + upstream_id, 0)} "
                           f"time(s), last error {s['last_error']!r}")
    out.check("client errors", str(len(Report.errors(report.samples))), "0",
              not Report.errors(report.samples))
    out.check("no-dns failed as a DNS connect failure", str(state["no-dns"]["last_error"]),
              "…DNS…", "DNS" in str(state["no-dns"]["last_error"]))
    out.check("bad-tls failed certificate verification", str(state["bad-tls"]["last_error"]),
              "…certificate…", "certificate" in str(state["bad-tls"]["last_error"]).lower())
    out.check("HTTP requests that reached the TLS upstream", str(reached_tls), "0",
              reached_tls == 0)
    out.check("both circuits opened", str([metrics.get(f"CircuitOpened.{i}", 0) for i in ids[:2]]),
              "≥ 1 each", all(metrics.get(f"CircuitOpened.{i}", 0) >= 1 for i in ids[:2]))
    out.check("mean attempts per request", f"{mean_attempts:.3f}", "≤ 1.10", mean_attempts <= 1.1)
    _common(out, "all", report, ROUTING["connect_timeout_s"])
    return out


DRILLS = {"5": broken_bodies, "6": unreachable}
