"""Probes against real sockets: classification, the key, the clock, concurrency."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from edge_router.config import Upstream
from edge_router.probe import ProbeResult, probe_all, probe_upstream, summarise

from .probe_fakes import FakeUpstreams

#: Probe timeouts. Real time, so an upstream that answers gets PATIENT (a busy machine can take
#: longer than 0.3 s to answer a local request); SHORT is for the slow upstream alone (it answers
#: after 30 s), MIXED for runs where both must come out right.
PATIENT, MIXED, SHORT = 5.0, 1.0, 0.3


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstreams]:
    with FakeUpstreams().running() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(fake: FakeUpstreams) -> None:
    fake.reset()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def up(upstream_id: str, base_url: str) -> Upstream:
    return Upstream(id=upstream_id, name=upstream_id.title(), base_url=base_url)


async def probe(
    session: aiohttp.ClientSession, upstream: Upstream, *, api_key: str | None = None,
    timeout_s: float = PATIENT,
) -> ProbeResult:
    return await probe_upstream(
        session, upstream, api_key=api_key, timeout_s=timeout_s, now=time.perf_counter
    )


async def test_healthy_upstream_is_ok(fake: FakeUpstreams, session: aiohttp.ClientSession) -> None:
    result = await probe(session, up("a", f"{fake.url}/healthy/v1"))
    assert (result.upstream_id, result.ok, result.status, result.error) == ("a", True, 200, None)
    assert 0 < result.latency_ms < PATIENT * 1000


async def test_a_4xx_answer_is_reachable(
    fake: FakeUpstreams, session: aiohttp.ClientSession
) -> None:
    result = await probe(session, up("a", f"{fake.url}/denied/v1"))
    assert (result.ok, result.status, result.error) == (True, 401, None)


async def test_5xx_is_down(fake: FakeUpstreams, session: aiohttp.ClientSession) -> None:
    result = await probe(session, up("b", f"{fake.url}/broken/v1"))
    assert (result.ok, result.status, result.error, result.detail) == (
        False,
        503,
        "http_503",
        "HTTP 503",
    )


async def test_closed_port_is_a_connect_error(
    fake: FakeUpstreams, session: aiohttp.ClientSession
) -> None:
    result = await probe(session, up("c", fake.closed_url))
    assert (result.ok, result.status, result.error, result.detail) == (
        False,
        None,
        "connect",
        "connection refused",
    )


async def test_slow_upstream_times_out(fake: FakeUpstreams, session: aiohttp.ClientSession) -> None:
    started = time.perf_counter()
    result = await probe(session, up("d", f"{fake.url}/slow/v1"), timeout_s=SHORT)
    elapsed = time.perf_counter() - started
    assert (result.ok, result.status, result.error) == (False, None, "timeout")
    assert result.detail == "no answer within 0.3 s"
    assert SHORT * 1000 * 0.9 <= result.latency_ms < 5000
    assert elapsed < 5  # the probe gave up; it did not wait for the 30 s answer


async def test_key_goes_as_bearer_and_never_into_the_result(
    fake: FakeUpstreams, session: aiohttp.ClientSession
) -> None:
    upstream = up("a", f"{fake.url}/healthy/v1")
    with_key = await probe(session, upstream, api_key="sk-secret-123")
    without = await probe(session, upstream, api_key=None)
    assert fake.authorizations == ["Bearer sk-secret-123", None]
    assert with_key.ok and without.ok
    failed = await probe(session, up("b", f"{fake.url}/broken/v1"), api_key="sk-secret-123")
    for result in (with_key, failed):
        assert "sk-secret" not in repr(result)


async def test_latency_comes_from_the_injected_clock(
    fake: FakeUpstreams, session: aiohttp.ClientSession
) -> None:
    ticks = iter([100.0, 100.25])
    ok = await probe_upstream(
        session, up("a", f"{fake.url}/healthy/v1"), api_key=None, now=lambda: next(ticks)
    )
    assert ok.latency_ms == 250.0
    ticks = iter([7.0, 7.0125])
    refused = await probe_upstream(
        session, up("c", fake.closed_url), api_key=None, now=lambda: next(ticks)
    )
    assert refused.latency_ms == pytest.approx(12.5)


async def test_probe_all_orders_results_and_reports_each(
    fake: FakeUpstreams, session: aiohttp.ClientSession
) -> None:
    upstreams = [
        up("healthy", f"{fake.url}/healthy/v1"),
        up("broken", f"{fake.url}/broken/v1"),
        up("closed", fake.closed_url),
        up("slow", f"{fake.url}/slow/v1"),
    ]
    seen: list[str] = []
    results = await probe_all(
        session,
        upstreams,
        keys={"healthy": "sk-h"},
        count=2,
        timeout_s=MIXED,
        now=time.perf_counter,
        on_result=lambda r: seen.append(r.upstream_id),
    )
    assert [r.upstream_id for r in results] == [
        "healthy", "healthy", "broken", "broken", "closed", "closed", "slow", "slow"
    ]  # fmt: skip
    assert sorted(seen) == sorted(r.upstream_id for r in results)
    assert fake.authorizations == ["Bearer sk-h", "Bearer sk-h"]
    stats = summarise(results)
    assert {k: (s.status, s.ok, s.errors, s.error_counts) for k, s in stats.items()} == {
        "healthy": ("ok", 2, 0, {}),
        "broken": ("down", 0, 2, {"http_503": 2}),
        "closed": ("down", 0, 2, {"connect": 2}),
        "slow": ("down", 0, 2, {"timeout": 2}),
    }


@pytest.mark.parametrize(("concurrency", "expected"), [(1, 1), (3, 3)])
async def test_probe_all_bounds_concurrency_and_serialises_each_upstream(
    fake: FakeUpstreams, session: aiohttp.ClientSession, concurrency: int, expected: int
) -> None:
    upstreams = [up(f"u{i}", f"{fake.url}/busy/{i}/v1") for i in range(4)]
    fake.busy_gate = expected  # a probe waits (1 s at most) until that many are in flight
    results = await probe_all(
        session,
        upstreams,
        keys={},
        count=2,
        concurrency=concurrency,
        timeout_s=PATIENT,
        now=time.perf_counter,
    )
    assert len(results) == 8 and all(r.ok for r in results)
    assert fake.max_in_flight_total == expected
    assert fake.max_in_flight_per_upstream == 1


async def test_probe_all_rejects_nonsense_counts(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        await probe_all(session, [], keys={}, count=0, now=time.perf_counter)
