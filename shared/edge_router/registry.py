"""What this process knows about each upstream: breaker, latency estimate, in-flight requests,
rate-limit mark, counters, and what the health store says other observers saw.

This is the mutable edge around the pure routing core: `RouterService` reads a snapshot of it as
`Candidate`s for `routing.ranking.order()` and feeds attempt results back through `record()`,
which runs the pure breaker and returns any transition for the health store and the metrics.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from .config import Config, Upstream
from .health.records import Observation, Transition
from .routing import breaker as br
from .routing.ranking import Candidate, failover_order, smooth_weighted_pick

EWMA_ALPHA = 0.3
#: An estimate with no new sample decays toward zero with this time constant (Finagle's and
#: tower's Peak-EWMA do the same), so an upstream that was slow is tried again once it has been
#: left alone for a while, instead of never getting the sample that would show it recovered.
DECAY_TAU_S = 10.0
#: Credential-scoped rate-limit marks kept at most (passthrough mode, SPEC §5): each is ~200
#: bytes, so a client inventing credentials can hold ~2 MB; past it the oldest mark is forgotten
#: (which costs at most one more 429 from the upstream for that credential).
MAX_SCOPED_MARKS = 10_000


def scope_key(credential: str) -> bytes:
    """A credential as a rate-limit scope: a digest, so the key itself is not kept."""
    return hashlib.blake2b(credential.encode("utf-8", "surrogateescape"), digest_size=16).digest()


def decayed(estimate_ms: float | None, age_s: float) -> float | None:
    if estimate_ms is None or age_s <= 0:
        return estimate_ms
    return estimate_ms * math.exp(-age_s / DECAY_TAU_S)


@dataclass(slots=True)
class UpstreamState:
    upstream: Upstream
    priority: int
    breaker: br.Breaker = br.CLOSED
    latency_ewma_ms: float | None = None
    latency_at: float = 0.0  # when the estimate last took a sample (epoch s)
    rate_limited_until: float = 0.0
    in_flight: OrderedDict[int, float] = field(default_factory=OrderedDict)
    requests: int = 0
    errors: int = 0
    last_error: str | None = None
    # deltas since the last flush to the health store
    pending_requests: int = 0
    pending_errors: int = 0
    pending_retries: int = 0  # attempts here that were a retry or failover (retry budget, §14)
    # what the health store says: another observer has this upstream open until ...
    remote_open_until: float = 0.0

    def observe_latency(self, sample_ms: float, now: float) -> None:
        """Peak-EWMA: a sample above the estimate replaces it; calm decays slowly."""
        old = self.latency_ewma_ms
        self.latency_at = now
        if old is None or sample_ms > old:
            self.latency_ewma_ms = sample_ms
        else:
            self.latency_ewma_ms = (1 - EWMA_ALPHA) * old + EWMA_ALPHA * sample_ms


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one `record()` changed: a breaker transition, if any."""

    transition: Transition | None
    opened: bool


class UpstreamRegistry:
    def __init__(self, config: Config, *, policy: br.Policy) -> None:
        self.config = config
        self.policy = policy
        self.states: dict[str, UpstreamState] = {
            u.id: UpstreamState(upstream=u, priority=i) for i, u in enumerate(config.upstreams)
        }
        self.failover = failover_order(
            [u.id for u in config.upstreams],
            {u.id: u.fallbacks for u in config.upstreams},
            config.home_upstream,
        )
        self._swrr: dict[str, int] = {}
        self._tokens = itertools.count()
        self._serving: dict[str, tuple[UpstreamState, ...]] = {}
        # (upstream id, scope_key(credential)) -> rate-limited until (epoch s), oldest first
        self._scoped: OrderedDict[tuple[str, bytes], float] = OrderedDict()
        #: every upstream, for calls without a model (a stored response may live on any)
        self.every: tuple[UpstreamState, ...] = tuple(self.states.values())

    # -- snapshot for ranking ------------------------------------------------------------------
    def serving(self, model: str) -> tuple[UpstreamState, ...]:
        found = self._serving.get(model)
        if found is None:
            found = tuple(s for s in self.states.values() if s.upstream.serves(model))
            if len(self._serving) < 4096:
                self._serving[model] = found
        return found

    def candidates(
        self, states: Iterable[UpstreamState], now: float, *, scope: str | None = None
    ) -> list[Candidate]:
        """Snapshots for ranking; `scope` (the client's credential in passthrough mode) adds
        the rate-limit marks that only that credential earned."""
        key = scope_key(scope) if scope is not None and self._scoped else None
        out = []
        for s in states:
            oldest = 0.0
            if s.in_flight:
                oldest = (now - next(iter(s.in_flight.values()))) * 1000.0
            limited = s.rate_limited_until
            if key is not None:
                limited = max(limited, self._scoped.get((s.upstream.id, key), 0.0))
            out.append(
                Candidate(
                    id=s.upstream.id,
                    priority=s.priority,
                    usable=br.is_usable(s.breaker, now, self.policy),
                    rate_limited_until=limited,
                    remote_open=s.remote_open_until > now,
                    latency_ms=decayed(s.latency_ewma_ms, now - s.latency_at),
                    in_flight=len(s.in_flight),
                    oldest_in_flight_ms=oldest,
                    weight=s.upstream.weight,
                )
            )
        return out

    def weighted_pick(self, candidates: Iterable[Candidate], now: float) -> str | None:
        weights = {c.id: c.weight for c in candidates if c.usable and c.rate_limited_until <= now}
        pick, self._swrr = smooth_weighted_pick(weights, self._swrr)
        return pick

    # -- attempts ------------------------------------------------------------------------------
    def begin(self, upstream_id: str, now: float) -> int | None:
        """Admit one attempt (taking the half-open trial slot if needed); a token, or None."""
        s = self.states[upstream_id]
        admitted = br.admit(s.breaker, now, self.policy)
        if admitted is None:
            return None
        s.breaker = admitted
        token = next(self._tokens)
        s.in_flight[token] = now
        return token

    def count_retry(self, upstream_id: str) -> None:
        """An attempt at `upstream_id` that is a retry or a failover: flushed with the counters
        so every container of the region sees the region's retries (SPEC §14)."""
        self.states[upstream_id].pending_retries += 1

    def record(
        self, upstream_id: str, token: int, result: br.Result, now: float, *, error: str | None
    ) -> Recorded:
        s = self.states[upstream_id]
        s.in_flight.pop(token, None)
        if result is not br.Result.NEUTRAL:
            s.requests += 1
            s.pending_requests += 1
            if result is not br.Result.SUCCESS:
                s.errors += 1
                s.pending_errors += 1
                s.last_error = error
        before = s.breaker
        s.breaker = br.record(before, result, now, self.policy)
        return self._transition(s, before, now)

    def _transition(self, s: UpstreamState, before: br.Breaker, now: float) -> Recorded:
        after = s.breaker
        if before.state is after.state or (
            before.state is br.State.HALF_OPEN and after.state is br.State.HALF_OPEN
        ):
            return Recorded(None, opened=False)
        if before.state is br.State.OPEN and after.state is br.State.HALF_OPEN:
            return Recorded(None, opened=False)  # admitting a trial is not news
        transition = Transition(
            upstream_id=s.upstream.id,
            state=after.state.value,
            open_until=after.open_until if after.state is br.State.OPEN else 0.0,
            changed_at=now,
            last_error=s.last_error,
        )
        return Recorded(transition, opened=after.state is br.State.OPEN)

    def mark_rate_limited(
        self, upstream_id: str, until: float, *, now: float, scope: str | None = None
    ) -> None:
        """Rate-limited until `until`: the upstream for everyone (`scope` None, keys mode), or
        only for one credential (passthrough). A newer answer replaces the mark (SPEC §5)."""
        if scope is None:
            self.states[upstream_id].rate_limited_until = until
            return
        marks = self._scoped
        key = (upstream_id, scope_key(scope))
        marks[key] = until
        marks.move_to_end(key)
        while marks and (len(marks) > MAX_SCOPED_MARKS or next(iter(marks.values())) <= now):
            marks.popitem(last=False)

    def scoped_marks(self, upstream_id: str, now: float) -> int:
        """How many credentials this upstream is rate-limiting now (counted, never listed)."""
        return sum(1 for (uid, _), until in self._scoped.items()
                   if uid == upstream_id and until > now)

    def observe_probe(self, upstream_id: str, *, ok: bool, latency_ms: float | None,
                      probed_at: float, now: float) -> Recorded:
        s = self.states[upstream_id]
        if ok and latency_ms is not None and s.latency_ewma_ms is None:
            s.latency_ewma_ms = latency_ms  # a probe seeds an unmeasured upstream
            s.latency_at = now
        before = s.breaker
        s.breaker = br.record_probe(before, ok=ok, probed_at=probed_at, now=now)
        return self._transition(s, before, now)

    def apply_observations(self, observations: Iterable[Observation], now: float) -> None:
        """Take in what the health store says (remote opens demote; never skip)."""
        remote: dict[str, float] = {}
        for obs in observations:
            if obs.state == "open" and obs.open_until and obs.open_until > now:
                remote[obs.upstream_id] = max(remote.get(obs.upstream_id, 0.0), obs.open_until)
        for upstream_id, s in self.states.items():
            s.remote_open_until = remote.get(upstream_id, 0.0)

    def state_of(self, upstream_id: str, now: float) -> br.State:
        return br.current_state(self.states[upstream_id].breaker, now)
