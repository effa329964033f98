"""Model aliases and model fallbacks (SPEC §12) over real sockets: the app in process, the
upstreams simulated. gpt-4.1 lives on ap-northeast and ap-southeast, Claude and Gemini on
us-west; `model_fallbacks` sends gpt-4.1 on to Claude when it fails everywhere."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from edge_router.observability import RETRY_BUDGET_EXHAUSTED, CountingMetrics
from edge_router.simulator import Simulator

from .router_harness import AUTH, routed

pytestmark = pytest.mark.integration

GPT, CLAUDE = "gpt-4.1", "claude-sonnet-4.5"
#: unusual spacing and field order: byte-for-byte forwarding is visible upstream
BODY = b'{"messages": [{"role": "user", "content": "hi"}],  "model": "gpt-4.1", "temperature": 0.5}'


@pytest.fixture
async def sim() -> Simulator:
    async with Simulator(3, profile="fast") as s:
        yield s  # type: ignore[misc]


def chain_config(sim: Simulator, **routing: Any) -> dict[str, Any]:
    models = {"ap-northeast": [GPT], "ap-southeast": [GPT], "us-west": [CLAUDE, "gemini-2.5-flash"]}
    return {
        "upstreams": [{"id": i, "base_url": sim.url(i), "models": models[i]} for i in sim.ids],
        "model_fallbacks": {GPT: [CLAUDE]},
        "routing": {"max_attempts": 2, **routing},
    }


def sent(sim: Simulator, upstream_id: str) -> list[bytes]:
    import base64

    return [base64.b64decode(r["body_base64"]) for r in sim.requests(upstream_id)]


async def post(r: Any, body: bytes = BODY) -> Any:
    return await r.client.post("/v1/chat/completions", content=body,
                               headers={**AUTH, "content-type": "application/json"})


async def test_a_model_down_everywhere_falls_back_to_the_next(sim: Simulator) -> None:
    # GIVEN both gpt-4.1 upstreams answering 503
    await sim.set_fault("ap-northeast", "status:503")
    await sim.set_fault("ap-southeast", "status:503")
    async with routed(sim, **chain_config(sim)) as r:
        r.deps.metrics.keep_records = True  # type: ignore[attr-defined]
        resp = await post(r)
        record = r.deps.metrics.records[-1]  # type: ignore[attr-defined]
    # THEN Claude answers, and everything about the answer follows Claude
    assert resp.status_code == 200
    assert resp.headers["x-edge-model"] == CLAUDE
    assert resp.headers["x-edge-upstream"] == "us-west"
    assert resp.headers["x-edge-attempts"] == "3"  # two for gpt-4.1, one for Claude
    usage = resp.json()["usage"]
    price = 15 / 1e6  # Claude's, not gpt-4.1's 8
    cost = (usage["prompt_tokens"] + usage["completion_tokens"]) * price
    assert float(resp.headers["x-edge-cost-usd"]) == pytest.approx(cost)
    assert record.model == CLAUDE and record.attempts == 3
    # the body was re-serialised for Claude only: gpt-4.1's upstreams got the client's bytes
    assert sent(sim, "ap-northeast") == [BODY]
    assert sent(sim, "ap-southeast") == [BODY]
    (claude_body,) = sent(sim, "us-west")
    assert orjson.loads(claude_body) == {**orjson.loads(BODY), "model": CLAUDE}
    assert list(orjson.loads(claude_body)) == ["messages", "model", "temperature"]


async def test_every_upstream_rate_limited_falls_back(sim: Simulator) -> None:
    await sim.set_fault("ap-northeast", "status:429,retry_after=30")
    await sim.set_fault("ap-southeast", "status:429,retry_after=30")
    async with routed(sim, **chain_config(sim)) as r:
        resp = await post(r)
    assert resp.status_code == 200
    assert resp.headers["x-edge-model"] == CLAUDE


async def test_no_fallback_after_a_passed_through_4xx(sim: Simulator) -> None:
    await sim.set_fault("ap-northeast", "status:400")
    async with routed(sim, **chain_config(sim)) as r:
        resp = await post(r)
    assert resp.status_code == 400
    assert resp.headers["x-edge-attempts"] == "1"
    assert "x-edge-model" in resp.headers and resp.headers["x-edge-model"] == GPT
    assert sim.state("us-west")["requests"] == 0


async def test_no_loop_and_max_attempts_per_model(sim: Simulator) -> None:
    # GIVEN fallbacks that point at each other, and every upstream failing
    for upstream_id in sim.ids:
        await sim.set_fault(upstream_id, "status:500")
    config = chain_config(sim)
    config["model_fallbacks"] = {GPT: [CLAUDE], CLAUDE: [GPT]}
    async with routed(sim, **config) as r:
        resp = await post(r)
    # THEN each model gets its max_attempts (2), once: gpt-4.1, Claude, and no gpt-4.1 again
    assert resp.status_code == 502
    assert resp.headers["x-edge-attempts"] == "4"
    assert "x-edge-model" not in resp.headers
    assert [sim.state(i)["requests"] for i in sim.ids] == [1, 1, 2]


async def test_the_retry_budget_covers_the_chain(sim: Simulator) -> None:
    # GIVEN no retry budget at all: a failed model cannot move on
    await sim.set_fault("ap-northeast", "status:503")
    async with routed(sim, **chain_config(sim, retry_budget=0, retry_budget_min_per_s=0)) as r:
        resp = await post(r)
        metrics = r.deps.metrics
    assert resp.status_code == 502
    assert resp.headers["x-edge-attempts"] == "1"
    assert isinstance(metrics, CountingMetrics)
    assert metrics.totals[RETRY_BUDGET_EXHAUSTED] == 1
    assert sim.state("us-west")["requests"] == 0


async def test_a_fallback_nobody_serves_is_skipped(sim: Simulator) -> None:
    await sim.set_fault("ap-northeast", "status:503")
    await sim.set_fault("ap-southeast", "status:503")
    config = chain_config(sim)
    config["upstreams"][2]["models"] = ["gemini-2.5-flash", "other"]
    config["model_fallbacks"] = {GPT: ["gemini-2.5-flash"]}
    async with routed(sim, **config) as r:
        resp = await post(r)
    assert resp.headers["x-edge-model"] == "gemini-2.5-flash"


async def test_model_map_renames_per_upstream_and_only_then_reserialises(sim: Simulator) -> None:
    # GIVEN ap-northeast calls gpt-4.1 by its dated name
    config = chain_config(sim)
    config["upstreams"][0]["model_map"] = {GPT: "gpt-4.1-2025-04-14"}
    async with routed(sim, **config) as r:
        mapped = await post(r)
        await sim.set_fault("ap-northeast", "status:503")
        plain = await post(r)
    # THEN ap-northeast saw its own name, and the client still sees gpt-4.1
    assert mapped.headers["x-edge-model"] == GPT
    assert "gpt-4.1-2025-04-14" in mapped.json()["choices"][0]["message"]["content"]
    (renamed, _) = sent(sim, "ap-northeast")
    assert orjson.loads(renamed)["model"] == "gpt-4.1-2025-04-14"
    # while ap-southeast, which has no map, got the client's bytes untouched
    assert plain.headers["x-edge-upstream"] == "ap-southeast"
    assert sent(sim, "ap-southeast") == [BODY]


async def test_a_key_limited_to_one_model_never_falls_back_to_another(sim: Simulator) -> None:
    # GIVEN keys mode and a key that may use gpt-4.1 only
    import random

    import httpx

    from edge_router.api.app import create_app
    from edge_router.build import build_deps
    from edge_router.clock import FakeClock
    from edge_router.config import build_config
    from edge_router.keys.auth import KeysAuth
    from edge_router.keys.tokens import KeyRecord, hash_key

    from .router_harness import sim_config

    key = "sk-edge-" + "c" * 43

    class GptOnly:
        async def find(self, key_hash: str) -> KeyRecord | None:
            return KeyRecord("gpt-only", key_hash, 1.0, (GPT,)) if key_hash == hash_key(key) \
                else None

    await sim.set_fault("ap-northeast", "status:503")
    await sim.set_fault("ap-southeast", "status:503")
    config = build_config(sim_config(sim, auth={"mode": "keys"}, **chain_config(sim)))
    deps = build_deps(config, auth=KeysAuth(GptOnly(), clock=FakeClock()),
                      upstream_auth=lambda upstream_id: None, rng=random.Random(0))
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        resp = await client.post("/v1/chat/completions", content=BODY, headers={
            "authorization": f"Bearer {key}", "content-type": "application/json"})
    await deps.service.client.close()
    # THEN the request ends with gpt-4.1's failure; Claude's upstream is never asked
    assert resp.status_code == 502
    assert resp.headers["x-edge-attempts"] == "2"
    assert sim.state("us-west")["requests"] == 0
