"""Candidate order for one attempt (SPEC §5), as pure functions.

`order()` takes a snapshot of every upstream that serves the model and returns the ids to try,
best first, leaving out open circuits and rate-limited upstreams, and moving upstreams that
another region reports open to the end (demoted, never skipped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

UNMEASURED_DEFAULT_MS = 100.0


@dataclass(frozen=True, slots=True)
class Candidate:
    id: str
    priority: int  # position in the config's upstream list
    usable: bool  # breaker admits a request now (closed, or a half-open trial is due)
    rate_limited_until: float = 0.0
    remote_open: bool = False
    latency_ms: float | None = None  # Peak-EWMA estimate; None = unmeasured
    in_flight: int = 0
    oldest_in_flight_ms: float = 0.0
    weight: int = 1


def failover_order(
    priorities: Sequence[str], fallbacks: Mapping[str, Sequence[str]], home: str | None
) -> tuple[str, ...]:
    """Home, then its fallbacks in order, then the rest by priority (computed once per config)."""
    start = home if home is not None else priorities[0]
    out: list[str] = [start]
    for upstream_id in (*fallbacks.get(start, ()), *priorities):
        if upstream_id not in out:
            out.append(upstream_id)
    return tuple(out)


def _peak_cost(candidate: Candidate, unmeasured_ms: float) -> float:
    estimate = unmeasured_ms if candidate.latency_ms is None else candidate.latency_ms
    if candidate.in_flight and candidate.oldest_in_flight_ms > estimate:
        estimate = candidate.oldest_in_flight_ms  # a request older than the estimate is a sample
    return estimate * (candidate.in_flight + 1)


def latency_order(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Peak-EWMA: latency estimate * (in flight + 1), lowest first; ties by priority."""
    measured = [c.latency_ms for c in candidates if c.latency_ms is not None]
    unmeasured_ms = max(measured) if measured else UNMEASURED_DEFAULT_MS
    return sorted(candidates, key=lambda c: (_peak_cost(c, unmeasured_ms), c.priority))


def smooth_weighted_pick(
    weights: Mapping[str, int], current: Mapping[str, int]
) -> tuple[str | None, dict[str, int]]:
    """nginx's smooth weighted round robin: one pick and the new running weights."""
    live = {k: w for k, w in weights.items() if w > 0}
    if not live:
        return None, dict(current)
    running = {k: current.get(k, 0) + w for k, w in live.items()}
    best = max(running, key=lambda k: running[k])  # first maximum wins: stable by insertion
    running[best] -= sum(live.values())
    return best, {**current, **running}


def order(
    strategy: str,
    candidates: Sequence[Candidate],
    *,
    now: float,
    failover: Sequence[str] = (),
    weighted_first: str | None = None,
) -> list[str]:
    """The ids to try, best first (see the module docstring)."""
    usable = [c for c in candidates if c.usable and c.rate_limited_until <= now]
    if strategy == "latency":
        ranked = latency_order(usable)
    elif strategy == "failover":
        position = {upstream_id: i for i, upstream_id in enumerate(failover)}
        ranked = sorted(usable, key=lambda c: (position.get(c.id, len(position)), c.priority))
    else:  # weighted: the first by smooth weighted round robin, the rest by priority
        ranked = sorted(usable, key=lambda c: (c.id != weighted_first, c.priority))
    return [c.id for c in ranked if not c.remote_open] + [c.id for c in ranked if c.remote_open]


def next_choice(ranked: Sequence[str], tried: Mapping[str, int]) -> tuple[str, int]:
    """The next upstream and how often it was already tried in this request.

    Untried candidates come first; an upstream already tried is tried again only after every
    other candidate, the least-tried first.
    """
    best = min(ranked, key=lambda upstream_id: tried.get(upstream_id, 0))
    return best, tried.get(best, 0)
