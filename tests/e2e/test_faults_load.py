"""Brown-outs end to end: the retry budget keeps a partial outage from multiplying upstream load
(SPEC §5), seen from outside — the simulator's request counters and `/status` metrics — and a
health table that is down costs requests nothing (SPEC §6, `serve` with the DynamoDB store).

The longer versions under open-loop load are drills 3 and 7 of `make chaos`.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import aiohttp
import pytest

from tests.support.moto_dynamodb import REGION, MotoTable
from tests.support.moto_dynamodb import moto_endpoint as moto_endpoint
from tests.support.moto_dynamodb import moto_table as moto_table

from .procs import RouterProcess, SimProcess, http

pytestmark = pytest.mark.e2e

CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Say hello"}]}
AUTH = {"authorization": "Bearer sk-test"}


async def _burst(url: str, count: int, concurrency: int) -> list[tuple[int, str | None, float]]:
    """`count` chat requests, `concurrency` at a time: (status, x-should-retry, seconds)."""
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async def one() -> tuple[int, str | None, float]:
            async with gate:
                started = time.monotonic()
                async with session.post(url + "/v1/chat/completions", json=CHAT,
                                        headers=AUTH) as resp:
                    await resp.read()
                    return resp.status, resp.headers.get("x-should-retry"), (
                        time.monotonic() - started)
        return await asyncio.gather(*(one() for _ in range(count)))


def burst(router: RouterProcess, count: int, concurrency: int = 16
          ) -> list[tuple[int, str | None, float]]:
    return asyncio.run(_burst(router.url, count, concurrency))


def metrics(router: RouterProcess) -> dict[str, int]:
    _, status = http("GET", router.url + "/status")
    return status["metrics"]  # type: ignore[no-any-return]


def test_30_percent_503_on_every_upstream_costs_at_most_1_25_attempts_per_request(
    router_factory: Callable[..., RouterProcess], sim: SimProcess
) -> None:
    # GIVEN every upstream failing 30 % of attempts, and no budget floor (a floor per second
    # would grow with the burst's duration, which a busy machine stretches): 20 % of requests
    router = router_factory(routing={"retry_budget_min_per_s": 0})
    for upstream_id in sim.ids:
        sim.set_fault(upstream_id, "status:503,rate=0.3")
    # WHEN 400 requests arrive
    results = burst(router, 400)
    # THEN the upstreams saw at most 1.25 attempts per request (not up to max_attempts = 3) ...
    attempts = sum(sim.counts().values())
    assert attempts / 400 <= 1.25
    # ... and more requests succeeded than one attempt each would give (70 %)
    ok = sum(1 for status, _, _ in results if status == 200)
    assert ok / 400 >= 0.70
    assert {status for status, _, _ in results} <= {200, 502}
    assert metrics(router)["RetryBudgetExhausted"] > 0


def test_a_brown_out_spends_the_retry_budget_and_says_so(
    router_factory: Callable[..., RouterProcess], sim: SimProcess
) -> None:
    # GIVEN every upstream answering 503, circuits that stay closed (a long run is needed), and
    # no budget floor (it would grow with the burst's duration)
    router = router_factory(routing={"retry_budget_min_per_s": 0},
                            breaker={"consecutive_errors": 1000})
    for upstream_id in sim.ids:
        sim.set_fault(upstream_id, "status:503")
    # WHEN 100 requests arrive
    results = burst(router, 100, concurrency=8)
    # THEN each fails once the budget (20 % of 100 requests) is spent, not after 3 attempts
    assert {(status, retry) for status, retry, _ in results} == {(502, "false")}
    assert sum(sim.counts().values()) <= 100 + 20
    totals = metrics(router)
    assert totals["RetryBudgetExhausted"] >= 80
    assert totals["Requests"] == 100
    assert totals.get("CircuitOpened", 0) == 0


def _dynamodb(table: str, interval_s: float, timeout_ms: float = 200) -> dict[str, object]:
    return {"store": "dynamodb", "table": table, "table_region": REGION,
            "sync_interval_s": interval_s, "timeout_ms": timeout_ms}


def test_serve_writes_its_counters_to_the_dynamodb_table(
    router_factory: Callable[..., RouterProcess], moto_table: MotoTable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_table.endpoint_url)
    # the most patient sync bound: a flush cut short by it is not retried (ADD is not idempotent),
    # and a loaded machine's moto server can take longer than the default 200 ms
    router = router_factory(health=_dynamodb(moto_table.name, 0.2, timeout_ms=5000))
    assert {status for status, _, _ in burst(router, 20)} == {200}
    # the first request after an interval flushes; a flush the store failed (a loaded machine's
    # moto server past botocore's 1 s) is put back and goes with the next interval's
    key = {"pk": {"S": "upstream#ap-northeast"}, "sk": {"S": "observer#local"}}
    deadline = time.monotonic() + 30
    while True:
        time.sleep(0.3)
        burst(router, 1)
        item = moto_table.client().get_item(TableName=moto_table.name, Key=key).get("Item", {})
        if int(item.get("requests", {}).get("N", 0)) >= 20:
            break
        assert time.monotonic() < deadline, f"the 20 requests were never flushed: {item}"


def test_serve_with_a_silent_health_table_fails_no_request_and_waits_200_ms_at_most(
    router_factory: Callable[..., RouterProcess], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN `serve` on the DynamoDB store, syncing every 0.5 s, with an endpoint that accepts
    # connections and never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(128)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB",
                           f"http://127.0.0.1:{silent.getsockname()[1]}")
        router = router_factory(health=_dynamodb("edge-router-health", 0.5))
        # WHEN requests keep coming, one at a time, for 1.3 s
        results: list[tuple[int, str | None, float]] = []
        started = time.monotonic()
        while time.monotonic() - started < 1.3:
            results += burst(router, 20, concurrency=1)
    # THEN none failed; the syncing ones waited for the bound (200 ms), far less than the store's
    # own 1 s timeout an unbounded sync would wait (the slack is for a busy machine)
    seconds = [s for _, _, s in results]
    assert {status for status, _, _ in results} == {200}
    assert max(seconds) < 0.2 + 0.45
    assert sum(1 for s in seconds if s > 0.18) >= 2
