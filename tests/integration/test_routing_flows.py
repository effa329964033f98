"""SPEC §5's outcome table over real sockets: the app in process, the upstreams simulated."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from edge_router.clock import FakeClock
from edge_router.simulator import Simulator

from .router_harness import AUTH, CHAT, routed

pytestmark = pytest.mark.integration


@pytest.fixture
async def sim() -> Simulator:
    async with Simulator(3, profile="fast") as s:
        yield s  # type: ignore[misc]


async def test_chat_is_answered_by_home_with_edge_headers(sim: Simulator) -> None:
    async with routed(sim) as r:
        resp = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "chat.completion"
    assert resp.headers["x-edge-upstream"] == "ap-northeast"
    assert resp.headers["x-edge-attempts"] == "1"
    assert resp.headers["x-edge-region"] == "local"
    assert resp.headers["x-upstream-request-id"].startswith("sim-ap-northeast")
    assert float(resp.headers["x-edge-overhead-ms"]) >= 0
    assert resp.headers["x-edge-cost-usd"]


@pytest.mark.parametrize("fault", ["status:503", "reset", "hang", "html", "html:200", "refuse",
                                   "truncated", "status:408", "status:302"])
async def test_failures_fail_over_to_the_next_candidate(sim: Simulator, fault: str) -> None:
    await sim.set_fault("ap-northeast", fault)
    async with routed(sim) as r:
        resp = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-edge-upstream"] == "ap-southeast"
    assert resp.headers["x-edge-attempts"] == "2"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_pass_through_without_failover(sim: Simulator, status: int) -> None:
    await sim.set_fault("ap-northeast", f"status:{status}")
    async with routed(sim) as r:
        resp = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        assert resp.status_code == status
        assert resp.headers["x-edge-attempts"] == "1"
        assert r.attempts() == {"ap-northeast": 1, "ap-southeast": 0, "us-west": 0}
        assert "error" in resp.json()
        state = r.deps.registry.states["ap-northeast"].breaker
        assert (state.hard_run, state.soft_run) == (0, 0)


async def test_body_bytes_go_upstream_unchanged_and_only_allowed_headers(sim: Simulator) -> None:
    raw = b'{"model":"gpt-4.1",  "messages":[{"role":"user","content":"h\\u00e9"}],"x_custom":[1,2.50]}'
    headers = {**AUTH, "content-type": "application/json", "cookie": "a=b",
               "x-forwarded-for": "1.2.3.4", "openai-beta": "assistants=v2", "x-request-id": "abc-1"}
    async with routed(sim) as r:
        resp = await r.client.post("/v1/chat/completions", content=raw, headers=headers)
    assert resp.status_code == 200
    assert resp.headers["x-request-id"] == "abc-1"
    seen = sim.requests("ap-northeast", 1)[0]
    assert seen["body"].encode() == raw
    names = {k.lower() for k in seen["headers"]}
    assert "cookie" not in names and "x-forwarded-for" not in names
    assert seen["headers"].get("openai-beta") or seen["headers"].get("Openai-Beta")
    lowered = {k.lower(): v for k, v in seen["headers"].items()}
    assert lowered["authorization"] == "Bearer sk-test"
    assert lowered["x-request-id"] == "abc-1"


async def test_429_fails_over_then_marks_the_upstream(sim: Simulator) -> None:
    await sim.set_fault("ap-northeast", "status:429,retry_after=30")
    async with routed(sim) as r:
        first = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        second = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        assert (first.status_code, first.headers["x-edge-upstream"]) == (200, "ap-southeast")
        # the mark outlasts the request: the second request skips ap-northeast
        assert second.headers["x-edge-attempts"] == "1"
        assert r.upstream_requests("ap-northeast") == 1


async def test_429_everywhere_waits_when_short_then_answers_429_when_long(sim: Simulator) -> None:
    for upstream_id in sim.ids:
        await sim.set_fault(upstream_id, "status:429,retry_after_ms=200,count=1")
    async with routed(sim, routing={"max_attempts": 4}) as r:
        resp = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        assert resp.status_code == 200  # waited 200 ms, retried
        assert resp.headers["x-edge-attempts"] == "4"
    for upstream_id in sim.ids:
        await sim.set_fault(upstream_id, "status:429,retry_after=9")
    async with routed(sim) as r:
        resp = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        assert resp.status_code == 429
        # every attempt was a 429: the last upstream's own body passes through (SPEC §5)
        assert resp.json()["error"]["code"] == "rate_limit_exceeded"
        assert resp.headers["x-edge-upstream"] == "us-west"
        assert int(resp.headers["retry-after"]) >= 8


async def test_all_down_is_502_with_no_retry_hint(sim: Simulator) -> None:
    for upstream_id in sim.ids:
        await sim.set_fault(upstream_id, "status:503")
    async with routed(sim) as r:
        resp = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
    assert resp.status_code == 502
    assert resp.headers["x-should-retry"] == "false"
    assert resp.json() == {"error": {
        "message": resp.json()["error"]["message"], "type": "upstream_error", "param": None,
        "code": "all_upstreams_failed"}}
    assert resp.headers["x-edge-attempts"] == "3"


async def test_breaker_opens_skips_half_opens_and_closes(sim: Simulator) -> None:
    clock = FakeClock()
    await sim.set_fault("ap-northeast", "reset")
    async with routed(sim, clock=clock, breaker={"cooldown_s": 30}) as r:
        for _ in range(3):
            resp = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
            assert resp.headers["x-edge-upstream"] == "ap-southeast"
        assert r.deps.registry.state_of("ap-northeast", clock.wall()).value == "open"
        status = (await r.client.get("/status")).json()
        assert status["upstreams"][0]["state"] == "open"
        # open: skipped, no attempt reaches it
        resp = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        assert resp.headers["x-edge-attempts"] == "1"
        assert r.upstream_requests("ap-northeast") == 3
        # after the cooldown one trial goes through; it succeeds and closes the circuit
        await sim.set_fault("ap-northeast", "ok")
        clock.advance(30)
        assert r.deps.registry.state_of("ap-northeast", clock.wall()).value == "half_open"
        resp = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        assert resp.headers["x-edge-upstream"] == "ap-northeast"
        assert r.deps.registry.state_of("ap-northeast", clock.wall()).value == "closed"


async def test_every_circuit_open_is_503_with_retry_after(sim: Simulator) -> None:
    clock = FakeClock()
    for upstream_id in sim.ids:
        await sim.set_fault(upstream_id, "reset")
    async with routed(sim, clock=clock, routing={"max_attempts": 3}) as r:
        for _ in range(3):
            resp = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
            assert resp.status_code == 502
        resp = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        assert resp.status_code == 503
        assert resp.json()["error"]["code"] == "no_upstream_available"
        assert int(resp.headers["retry-after"]) == 30
        assert resp.headers["x-edge-attempts"] == "0"
        health = await r.client.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "down"


async def test_stream_relays_sse_and_mid_stream_cut_is_not_replayed(sim: Simulator) -> None:
    body = {**CHAT, "stream": True}
    async with routed(sim) as r:
        resp = await r.client.post("/v1/chat/completions", json=body, headers=AUTH)
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.text.rstrip().endswith("data: [DONE]")
        await sim.set_fault("ap-northeast", "cut")
        resp = await r.client.post("/v1/chat/completions", json=body, headers=AUTH)
        assert resp.status_code == 200
        events = [line for line in resp.text.splitlines() if line.startswith("data: ")]
        last = orjson.loads(events[-1][6:])
        assert last["error"]["code"] == "stream_interrupted"
        assert "[DONE]" not in resp.text
        assert r.attempts() == {"ap-northeast": 2, "ap-southeast": 0, "us-west": 0}


async def test_stream_that_dies_before_its_first_chunk_fails_over(sim: Simulator) -> None:
    await sim.set_fault("ap-northeast", "cut:0")
    async with routed(sim) as r:
        resp = await r.client.post("/v1/chat/completions", json={**CHAT, "stream": True},
                                   headers=AUTH)
    assert resp.status_code == 200
    assert resp.headers["x-edge-upstream"] == "ap-southeast"
    assert resp.text.rstrip().endswith("data: [DONE]")


async def test_deadline_before_first_byte_is_504(sim: Simulator) -> None:
    for upstream_id in sim.ids:
        await sim.set_fault(upstream_id, "delay:8")
    async with routed(sim, routing={"deadline_s": 0.3, "first_byte_timeout_s": 10}) as r:
        started = asyncio.get_running_loop().time()
        resp = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        elapsed = asyncio.get_running_loop().time() - started
        home = r.deps.registry.states["ap-northeast"].breaker
    assert resp.status_code == 504
    assert resp.json()["error"]["code"] == "deadline_exceeded"
    assert resp.headers["x-should-retry"] == "false"
    assert elapsed < 3.0  # the deadline, far from the 8 s answer
    assert (home.hard_run, home.soft_run) == (0, 0)  # our deadline, not their failure


async def test_body_trickling_past_the_deadline_counts_against_the_upstream(
    sim: Simulator,
) -> None:
    await sim.set_fault("ap-northeast", "trickle:0.05")  # ~19 s for the whole answer
    # a deadline the first byte beats on a busy machine too (else it is not the upstream's fault)
    async with routed(sim, routing={"deadline_s": 1.0, "first_byte_timeout_s": 5}) as r:
        resp = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        home = r.deps.registry.states["ap-northeast"]
        assert resp.status_code == 504
        assert home.breaker.soft_run == 1
        assert home.last_error == "the request deadline passed"


async def test_models_lists_the_union(sim: Simulator) -> None:
    async with routed(sim) as r:
        resp = await r.client.get("/v1/models", headers=AUTH)
    assert resp.status_code == 200
    ids = {m["id"] for m in resp.json()["data"]}
    assert {"gpt-4.1", "claude-sonnet-4.5"} <= ids


async def test_embeddings_and_completions_route(sim: Simulator) -> None:
    async with routed(sim) as r:
        emb = await r.client.post("/v1/embeddings", headers=AUTH,
                                  json={"model": "text-embedding-3-small", "input": "hi"})
        comp = await r.client.post("/v1/completions", headers=AUTH,
                                   json={"model": "gpt-4.1", "prompt": "hi"})
    assert emb.status_code == 200 and emb.json()["data"][0]["embedding"]
    assert comp.status_code == 200 and comp.json()["choices"]


async def test_stream_usage_reaches_the_metrics_but_no_cost_header(sim: Simulator) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with routed(sim) as r:
        r.deps.metrics.keep_records = True  # type: ignore[attr-defined]
        resp = await r.client.post("/v1/chat/completions", json=body, headers=AUTH)
        assert resp.status_code == 200
        assert "x-edge-cost-usd" not in resp.headers
        record = r.deps.metrics.records[-1]  # type: ignore[attr-defined]
    assert record.completion_tokens > 0 and record.prompt_tokens > 0
    assert record.cost_usd is not None and record.cost_usd > 0
    assert record.model == "gpt-4.1" and record.upstream == "ap-northeast"
