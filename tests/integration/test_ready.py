"""`GET/HEAD /ready` (SPEC §11): the Lambda Web Adapter's readiness path answers 200 as soon as
the app is built, even when every upstream is down and `/health` says 503."""

from __future__ import annotations

import pytest

from edge_router.clock import FakeClock
from edge_router.simulator import Simulator

from .router_harness import AUTH, CHAT, routed

pytestmark = pytest.mark.integration


@pytest.fixture
async def sim() -> Simulator:
    async with Simulator(2, profile="fast") as s:
        yield s  # type: ignore[misc]


async def test_ready_is_200_without_auth_upstream_or_store(sim: Simulator) -> None:
    # GIVEN every upstream resets and every circuit is open
    for upstream_id in sim.ids:
        await sim.set_fault(upstream_id, "reset")
    async with routed(sim, clock=FakeClock(), routing={"max_attempts": 2}) as r:
        for _ in range(3):
            await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        assert (await r.client.get("/health")).status_code == 503
        calls = r.attempts()
        synced_at = r.deps.sync.last_synced_at if r.deps.sync is not None else None
        # WHEN the adapter polls /ready, with no Authorization
        get = await r.client.get("/ready")
        head = await r.client.head("/ready")
        # THEN it is ready, and neither an upstream nor the store was asked
        assert get.status_code == 200
        assert get.json() == {"status": "ready"}
        assert get.headers["content-type"] == "application/json"
        assert head.status_code == 200
        assert r.attempts() == calls
        assert r.deps.sync is None or r.deps.sync.last_synced_at == synced_at


async def test_ready_refuses_other_methods_in_openai_shape(sim: Simulator) -> None:
    async with routed(sim) as r:
        resp = await r.client.post("/ready")
    assert resp.status_code == 405
    assert resp.json()["error"]["type"] == "invalid_request_error"
