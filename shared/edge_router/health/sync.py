"""Keeps the local registry and the shared health store in step, without ever failing a request.

Lambda has no timers, so syncing rides on requests: the first request after each
`sync_interval_s` flushes counters and reads every observer's items, waiting at most
`timeout_ms` (SPEC §6: the store is advisory and fails open). Breaker transitions are written at
once, in the background. After a failed call no store call is made until the next interval.

The region's retry budget (SPEC §14): every container of a region `ADD`s its attempts and retries
to this region's items, so between two reads the growth of those counters, less what this
container flushed itself, is the rest of the region's attempts and retries in that time;
`on_region_counts(now, requests, retries)` hands them (requests = attempts less retries) to the
retry budget, which then binds for the region as a whole even when each container serves one
request at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from ..registry import UpstreamRegistry
from .records import Counters, Observation, Transition
from .store import HealthStore, HealthStoreError

log = logging.getLogger(__name__)


class HealthSync:
    def __init__(
        self,
        store: HealthStore,
        registry: UpstreamRegistry,
        *,
        regions: Sequence[str],
        interval_s: float,
        timeout_s: float,
        wall: Callable[[], float],
    ) -> None:
        self.store = store
        self.registry = registry
        self.regions = tuple(dict.fromkeys((*regions, store.region)))
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._wall = wall
        self._next_sync = 0.0
        self._failed_until = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self.observations: list[Observation] = []
        self.last_synced_at: float | None = None
        self.failures = 0
        #: Receives the region's (requests, retries) since the previous read (the retry budget).
        self.on_region_counts: Callable[[float, int, int], None] | None = None
        self._region_totals: dict[str, tuple[int, int]] | None = None
        self._own_flushed = [0, 0]  # attempts, retries written but not yet seen in a read

    def due(self, now: float) -> bool:
        return now >= self._next_sync

    async def maybe_sync(self) -> None:
        """Flush and read if an interval has passed; bounded; never raises."""
        now = self._wall()
        if now < self._next_sync:
            return
        self._next_sync = now + self.interval_s
        try:
            await asyncio.wait_for(self._sync(now), self.timeout_s)
        except (TimeoutError, HealthStoreError) as exc:
            self.failures += 1
            self._failed_until = self._next_sync
            log.warning("health store sync failed (%s); retrying next interval", type(exc).__name__)

    async def _sync(self, now: float) -> None:
        counters = self._take_counters(now)
        ids = list(self.registry.states)
        _, observations = await asyncio.gather(
            self._flush(counters), self.store.read(ids, self.regions)
        )
        self.observations = observations
        self.last_synced_at = now
        self.apply(observations, now)
        self._count_region(observations, now)

    def _count_region(self, observations: Sequence[Observation], now: float) -> None:
        """The growth of this region's counters since the last read, less this container's
        own flushes (which its budget counted already): the rest of the region's attempts and
        retries. A flush not yet visible in this read is taken off the next one. An item that
        expired and restarted from zero counts what it holds now."""
        totals = {o.upstream_id: (o.requests, o.retries) for o in observations
                  if o.region == self.store.region}  # fmt: skip
        before, self._region_totals = self._region_totals, totals
        if before is None or self.on_region_counts is None:
            return  # a first read is only the baseline
        attempts = retries = 0
        for upstream_id, (requests_now, retries_now) in totals.items():
            requests_then, retries_then = before.get(upstream_id, (0, 0))
            grown = requests_now >= requests_then and retries_now >= retries_then
            attempts += requests_now - requests_then if grown else requests_now
            retries += retries_now - retries_then if grown else retries_now
        own_attempts = min(self._own_flushed[0], attempts)
        own_retries = min(self._own_flushed[1], retries)
        self._own_flushed[0] -= own_attempts
        self._own_flushed[1] -= own_retries
        attempts, retries = attempts - own_attempts, retries - own_retries
        self.on_region_counts(now, max(attempts - retries, 0), retries)

    def apply(self, observations: Sequence[Observation], now: float) -> None:
        self.registry.apply_observations(observations, now)
        for obs in observations:
            if obs.region == self.store.region and obs.probed_at is not None:
                recorded = self.registry.observe_probe(
                    obs.upstream_id,
                    ok=bool(obs.probe_ok),
                    latency_ms=obs.probe_latency_ms,
                    probed_at=obs.probed_at,
                    now=now,
                )
                if recorded.transition is not None:
                    self.write_transition(recorded.transition)

    def _take_counters(self, now: float) -> list[Counters]:
        out = []
        for s in self.registry.states.values():
            if s.pending_requests or s.pending_errors:
                out.append(
                    Counters(s.upstream.id, s.pending_requests, s.pending_errors,
                             s.latency_ewma_ms, now, retries=s.pending_retries)
                )
                s.pending_requests = s.pending_errors = s.pending_retries = 0
        return out

    async def _flush(self, counters: Sequence[Counters]) -> None:
        """`ADD` the counters. They go back for the next flush only when the store itself
        failed the write; not when our own time bound cut it short (nor when the read failed):
        that write may still land, and `ADD` is not idempotent. Losing a flush of advisory
        counts is better than counting them twice, or on every interval while the table is slow.
        """
        if not counters:
            return
        try:
            await self.store.write_counters(counters)
        except HealthStoreError:
            self._restore_counters(counters)
            raise
        self._own_flushed[0] += sum(c.requests for c in counters)
        self._own_flushed[1] += sum(c.retries for c in counters)

    def _restore_counters(self, counters: Sequence[Counters]) -> None:
        for c in counters:
            s = self.registry.states[c.upstream_id]
            s.pending_requests += c.requests
            s.pending_errors += c.errors
            s.pending_retries += c.retries

    def write_transition(self, transition: Transition) -> None:
        """Write a breaker transition in the background (bounded; skipped after a failure)."""
        if self._wall() < self._failed_until:
            return
        task = asyncio.get_running_loop().create_task(self._write(transition))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, transition: Transition) -> None:
        try:
            await asyncio.wait_for(self.store.write_transition(transition), self.timeout_s)
        except (TimeoutError, HealthStoreError) as exc:
            self.failures += 1
            self._failed_until = self._next_sync
            log.warning("health store write failed (%s)", type(exc).__name__)

    async def drain(self) -> None:
        """Wait for background writes (tests, shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
