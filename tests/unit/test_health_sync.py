"""`HealthSync` flushes counters with `ADD`, which is not idempotent: a flush must never be
counted twice. Found by the table drill of `make chaos` (drill 7): with the table slower than
the 200 ms bound, every write landed after the router had given up on it, the router put the
counts back, and the next flush added them again — 9,023 requests in the table for 3,750 made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from edge_router.build import breaker_policy
from edge_router.clock import FakeClock
from edge_router.config import build_config
from edge_router.health.memory import MemoryHealthStore, MemoryTable
from edge_router.health.records import Counters, Observation
from edge_router.health.store import HealthStoreError
from edge_router.health.sync import HealthSync
from edge_router.registry import UpstreamRegistry
from edge_router.routing import breaker as br

#: The sync bound: real time, so generous enough that a fast (in-memory) sync never reaches it
#: on a busy machine; a "slow" write never answers, so it costs exactly this once.
TIMEOUT_S = 0.25


class ScriptedStore(MemoryHealthStore):
    """A memory store whose next calls can be made slow (the write lands, the answer comes
    too late), failing (nothing written) or unreadable."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__("us-east-1", table=MemoryTable(), wall=clock.wall)
        self.write = "ok"
        self.read_fails = False

    async def write_counters(self, counters: Sequence[Counters]) -> None:
        if self.write == "fail":
            raise HealthStoreError("throttled")
        await super().write_counters(counters)
        if self.write == "slow":
            await asyncio.Event().wait()  # the answer never comes: the bound cuts it short

    async def read(self, upstream_ids: Sequence[str], regions: Sequence[str]) -> list[Observation]:
        if self.read_fails:
            raise HealthStoreError("read failed")
        return await super().read(upstream_ids, regions)


def _setup() -> tuple[FakeClock, ScriptedStore, UpstreamRegistry, HealthSync]:
    clock = FakeClock()
    config = build_config({"upstreams": [{"id": "a", "base_url": "http://127.0.0.1:1/v1"}]})
    registry = UpstreamRegistry(config, policy=breaker_policy(config))
    store = ScriptedStore(clock)
    sync = HealthSync(store, registry, regions=["us-east-1"], interval_s=10,
                      timeout_s=TIMEOUT_S, wall=clock.wall)
    return clock, store, registry, sync


def _requests(registry: UpstreamRegistry, clock: FakeClock, n: int) -> None:
    for _ in range(n):
        token = registry.begin("a", clock.wall())
        assert token is not None
        registry.record("a", token, br.Result.SUCCESS, clock.wall(), error=None)


def _stored(store: ScriptedStore) -> int:
    return store.table.items[("a", "us-east-1")].requests


async def _interval(clock: FakeClock, sync: HealthSync) -> None:
    clock.advance(10)
    await sync.maybe_sync()


async def test_a_write_that_lands_after_the_time_bound_is_not_counted_again() -> None:
    clock, store, registry, sync = _setup()
    # GIVEN a table slower than the bound: the write lands, the router stops waiting
    store.write = "slow"
    _requests(registry, clock, 5)
    await sync.maybe_sync()
    assert sync.failures == 1
    # WHEN the table is fast again and more requests are flushed
    store.write = "ok"
    _requests(registry, clock, 3)
    await _interval(clock, sync)
    # THEN each request is in the table once
    assert _stored(store) == 8


async def test_a_failed_read_does_not_put_back_counts_that_were_written() -> None:
    clock, store, registry, sync = _setup()
    store.read_fails = True
    _requests(registry, clock, 5)
    await sync.maybe_sync()
    assert sync.failures == 1
    store.read_fails = False
    _requests(registry, clock, 2)
    await _interval(clock, sync)
    assert _stored(store) == 7


async def test_counts_the_store_refused_are_flushed_next_time() -> None:
    clock, store, registry, sync = _setup()
    store.write = "fail"
    _requests(registry, clock, 5)
    await sync.maybe_sync()
    assert ("a", "us-east-1") not in store.table.items
    store.write = "ok"
    _requests(registry, clock, 2)
    await _interval(clock, sync)
    assert _stored(store) == 7


async def test_the_growth_of_the_regions_counters_feeds_the_retry_budget() -> None:
    """Every container `ADD`s its attempts and retries to this region's items; between two reads
    their growth is the region's requests (attempts less retries) and retries (SPEC §14)."""
    clock, store, registry, sync = _setup()
    seen: list[tuple[float, int, int]] = []
    sync.on_region_counts = lambda now, requests, retries: seen.append((now, requests, retries))
    await sync.maybe_sync()
    assert seen == []  # the first read is only the baseline
    # WHEN other containers of the region flush 100 attempts, 20 of them retries
    await store.write_counters([Counters("a", 100, 30, None, clock.wall(), retries=20)])
    # and this one 5 (1 retry)
    _requests(registry, clock, 5)
    registry.count_retry("a")
    await _interval(clock, sync)
    # THEN the budget hears of the others' 80 requests and 20 retries (its own it counted)
    assert seen == [(clock.wall(), 80, 20)]
    await _interval(clock, sync)
    assert seen[-1][1:] == (0, 0)


async def test_an_own_flush_the_read_missed_is_taken_off_the_next_read() -> None:
    clock, store, _, sync = _setup()
    seen: list[tuple[int, int]] = []
    sync.on_region_counts = lambda now, requests, retries: seen.append((requests, retries))
    await sync.maybe_sync()
    sync._own_flushed = [10, 2]  # flushed, but the read came back before it landed
    await _interval(clock, sync)
    await store.write_counters([Counters("a", 10, 0, None, clock.wall(), retries=2)])  # lands
    await store.write_counters([Counters("a", 50, 0, None, clock.wall(), retries=5)])  # others
    await _interval(clock, sync)
    assert seen == [(0, 0), (45, 5)]
