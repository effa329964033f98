"""The `Limiter` (SPEC §13) on memory stores and a `FakeClock`: admission, refusals and their
headers, two regions on one table, usage accounting and flushes, and failing open."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal

import pytest

from edge_router import errors
from edge_router.auth import Principal
from edge_router.clock import FakeClock
from edge_router.context import RequestContext
from edge_router.limits.limiter import Limiter
from edge_router.limits.memory import MemoryLimitsStore, MemoryLimitsTable
from edge_router.limits.store import Add, Counts, LimitsStoreError
from edge_router.limits.windows import KeyLimits
from edge_router.observability import LIMITS_UNAVAILABLE, CountingMetrics

US, EU = "us-east-1", "eu-central-1"
START = 1_700_000_000.0  # 2023-11-14T22:13:20Z: 40 s left in the minute


class Recording(MemoryLimitsStore):
    """A memory store that counts its calls and can be made to fail or hang."""

    def __init__(self, region: str, **kwargs: object) -> None:
        super().__init__(region, **kwargs)  # type: ignore[arg-type]
        self.calls: Counter[str] = Counter()
        self.mode = "ok"

    async def _enter(self, name: str) -> None:
        self.calls[name] += 1
        if self.mode == "fail":
            raise LimitsStoreError("table unreachable")
        if self.mode == "hang":
            await asyncio.sleep(30)

    async def admit(self, *args: object, **kwargs: object) -> Counts:
        await self._enter("admit")
        return await super().admit(*args, **kwargs)  # type: ignore[arg-type]

    async def read(self, key_id: str, sks: Sequence[str]) -> dict[str, Counts]:
        await self._enter("read")
        return await super().read(key_id, sks)

    async def add(self, adds: Sequence[Add]) -> None:
        await self._enter("add")
        await super().add(adds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def table() -> MemoryLimitsTable:
    return MemoryLimitsTable()


def limiter(region: str, clock: FakeClock, table: MemoryLimitsTable, *,
            interval_s: float = 10.0) -> Limiter:
    store = Recording(region, table=table, wall=clock.wall)
    return Limiter(store, regions=(US, EU), interval_s=interval_s, timeout_s=0.2, clock=clock,
                   metrics=CountingMetrics())


def key(limits: KeyLimits | None = None, key_id: str = "k1") -> Principal:
    return Principal(name="app", key_id=key_id, limits=limits)


def ctx() -> RequestContext:
    return RequestContext("req_1", 0.0)


async def admit(lim: Limiter, principal: Principal) -> RequestContext:
    c = ctx()
    await lim.admit(principal, c)
    c.admitted = True
    return c


def calls(lim: Limiter) -> Counter[str]:
    assert isinstance(lim.store, Recording)
    return lim.store.calls


async def test_a_key_without_limits_costs_no_store_call(
    clock: FakeClock, table: MemoryLimitsTable
) -> None:
    us = limiter(US, clock, table)
    for _ in range(50):
        c = await admit(us, key(None))
        assert c.key_id == "k1" and c.rate_headers is None
    assert calls(us) == Counter()


async def test_rpm_is_exact_and_refusals_carry_retry_after_and_the_headers(
    clock: FakeClock, table: MemoryLimitsTable
) -> None:
    us = limiter(US, clock, table)
    limited = key(KeyLimits(rpm=3))
    remaining = []
    for _ in range(3):
        c = await admit(us, limited)
        remaining.append(dict(c.rate_headers or [])[b"x-ratelimit-remaining-requests"])
    assert remaining == [b"2", b"1", b"0"]
    c = ctx()
    with pytest.raises(errors.KeyRequestsExceeded) as refused:
        await us.admit(limited, c)
    assert refused.value.headers() == {"retry-after": "40"}
    assert (refused.value.status_code, refused.value.error_type, refused.value.code) == (
        429, "requests", "rate_limit_exceeded")
    assert dict(c.rate_headers or []) == {
        b"x-ratelimit-limit-requests": b"3", b"x-ratelimit-remaining-requests": b"0",
        b"x-ratelimit-reset-requests": b"40s"}
    # THEN a full window is known locally: the next refusal needs no store call
    before = calls(us)["admit"]
    with pytest.raises(errors.KeyRequestsExceeded):
        await us.admit(limited, ctx())
    assert calls(us)["admit"] == before
    # AND the next minute admits again
    clock.advance(40)
    await admit(us, limited)


async def test_containers_of_one_region_share_the_exact_count(
    clock: FakeClock, table: MemoryLimitsTable
) -> None:
    a, b = limiter(US, clock, table), limiter(US, clock, table)
    limited = key(KeyLimits(rpm=4))
    admitted = 0
    for n in range(10):
        try:
            await admit(a if n % 2 else b, limited)
            admitted += 1
        except errors.KeyRequestsExceeded:
            pass
    assert admitted == 4


async def test_regions_count_each_other_from_their_last_read(
    clock: FakeClock, table: MemoryLimitsTable
) -> None:
    us, eu = limiter(US, clock, table), limiter(EU, clock, table)
    limited = key(KeyLimits(rpm=10))
    # GIVEN US used 6 of this minute
    for _ in range(6):
        await admit(us, limited)
    # WHEN EU's first request reads the other regions: it has room for 4 only
    admitted = 0
    for _ in range(8):
        try:
            await admit(eu, limited)
            admitted += 1
        except errors.KeyRequestsExceeded:
            pass
    assert admitted == 4
    # AND US, whose view is older than one interval, re-reads and refuses at once
    clock.advance(10)
    with pytest.raises(errors.KeyRequestsExceeded):
        await admit(us, limited)


async def test_the_overshoot_is_at_most_what_other_regions_admit_within_one_interval(
    clock: FakeClock, table: MemoryLimitsTable
) -> None:
    us, eu = limiter(US, clock, table), limiter(EU, clock, table)
    limited = key(KeyLimits(rpm=10))
    # GIVEN both regions read an empty minute at the same moment
    await admit(us, limited)
    await admit(eu, limited)
    # WHEN both are hammered before either re-reads
    admitted = 2
    for _ in range(20):
        for region in (us, eu):
            try:
                await admit(region, limited)
                admitted += 1
            except errors.KeyRequestsExceeded:
                pass
    # THEN each region stopped at rpm minus what it had last read of the other: US read before
    # EU's first request (10 for US), EU after US's first (9 for EU). The overshoot, 9, is what
    # EU admitted since US's read: less than one interval of the other region's traffic.
    assert admitted == 19
    # AND after one interval, both know the minute is spent
    clock.advance(10)
    for region in (us, eu):
        with pytest.raises(errors.KeyRequestsExceeded):
            await admit(region, limited)


async def test_tpm_counts_tokens_once_the_answer_reports_them(
    clock: FakeClock, table: MemoryLimitsTable
) -> None:
    us = limiter(US, clock, table)
    limited = key(KeyLimits(tpm=100))
    c = await admit(us, limited)
    c.prompt_tokens, c.completion_tokens = 70, 40
    us.account(c)
    c = ctx()
    with pytest.raises(errors.KeyTokensExceeded) as refused:
        await us.admit(limited, c)
    assert refused.value.error_type == "tokens"
    assert dict(c.rate_headers or [])[b"x-ratelimit-remaining-tokens"] == b"0"
    await us.drain()
    # the tokens were written to this region's minute item (the first flush is due at once)
    assert (await us.store.read("k1", ["min#2023-11-14T22:13#us-east-1"]))[
        "min#2023-11-14T22:13#us-east-1"].tokens == 110


async def test_a_spent_budget_refuses_with_insufficient_quota_and_no_retry(
    clock: FakeClock, table: MemoryLimitsTable
) -> None:
    us, eu = limiter(US, clock, table), limiter(EU, clock, table)
    budget = key(KeyLimits(budget_usd=Decimal("0.01")))
    c = await admit(us, budget)
    c.cost_usd = Decimal("0.006")
    us.account(c)
    await us.drain()
    c = await admit(us, budget)
    c.cost_usd = Decimal("0.005")
    us.account(c)
    with pytest.raises(errors.InsufficientQuota) as refused:
        await admit(us, budget)
    assert refused.value.headers() == {"x-should-retry": "false"}
    assert (refused.value.status_code, refused.value.error_type, refused.value.code) == (
        429, "insufficient_quota", "insufficient_quota")
    # AND another region refuses once the spend is flushed and it has read it
    await us.flush_now()
    with pytest.raises(errors.InsufficientQuota):
        await admit(eu, budget)


async def test_usage_rows_per_key_day_and_model_are_flushed_once(
    clock: FakeClock, table: MemoryLimitsTable
) -> None:
    us = limiter(US, clock, table)
    for model, prompt, completion, cost in [("gpt-4.1", 10, 5, "0.00012"),
                                            ("gpt-4.1", 20, 5, "0.0002"),
                                            ("deepseek-v3.2", 7, 3, None)]:
        c = await admit(us, key(None))
        c.usage_model, c.prompt_tokens, c.completion_tokens = model, prompt, completion
        c.cost_usd = Decimal(cost) if cost else None
        us.account(c)
        us.account(c)  # a second call for one request adds nothing
    await us.flush_now()
    rows = dict(await us.store.query("k1", "day#", "day#~"))
    assert rows == {
        "day#2023-11-14#gpt-4.1#us-east-1": Counts(
            requests=2, prompt_tokens=30, completion_tokens=10, cost_usd=Decimal("0.00032")),
        "day#2023-11-14#deepseek-v3.2#us-east-1": Counts(
            requests=1, prompt_tokens=7, completion_tokens=3),
    }
    # the first request's flush was due at once; the rest went in one more
    assert calls(us)["add"] == 2


async def test_a_failing_store_is_failed_open_counted_and_left_alone_for_an_interval(
    clock: FakeClock, table: MemoryLimitsTable
) -> None:
    us = limiter(US, clock, table)
    store = us.store
    assert isinstance(store, Recording)
    store.mode = "fail"
    limited = key(KeyLimits(rpm=2))
    for _ in range(5):
        await admit(us, limited)  # served: limits fail open
    assert sum(calls(us).values()) == 1
    assert isinstance(us.metrics, CountingMetrics)
    assert us.metrics.totals[LIMITS_UNAVAILABLE] == 1
    # WHEN the table is back after the interval, limits apply again
    store.mode = "ok"
    clock.advance(10)
    await admit(us, limited)
    await admit(us, limited)
    with pytest.raises(errors.KeyRequestsExceeded):
        await admit(us, limited)


async def test_a_hanging_store_costs_a_request_at_most_the_bound(
    clock: FakeClock, table: MemoryLimitsTable
) -> None:
    us = limiter(US, clock, table)
    assert isinstance(us.store, Recording)
    us.store.mode = "hang"
    loop = asyncio.get_running_loop()
    started = loop.time()
    await admit(us, key(KeyLimits(rpm=2)))
    assert loop.time() - started < 1.0  # 0.2 s bound, generous slack for a busy machine
    assert us.failures == 1


async def test_a_refused_flush_is_kept_for_the_next_one(
    clock: FakeClock, table: MemoryLimitsTable
) -> None:
    us = limiter(US, clock, table)
    assert isinstance(us.store, Recording)
    us.store.mode = "fail"
    c = await admit(us, key(None))
    c.usage_model, c.prompt_tokens = "gpt-4.1", 5
    us.account(c)
    await us.drain()
    us.store.mode = "ok"
    clock.advance(10)
    await us.flush_now()
    rows = await us.store.query("k1", "day#", "day#~")
    assert [(sk, counts.requests, counts.prompt_tokens) for sk, counts in rows] == [
        ("day#2023-11-14#gpt-4.1#us-east-1", 1, 5)]
