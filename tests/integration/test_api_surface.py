"""SPEC §12's smaller endpoints over real sockets: `GET /v1/models/{model}`, `HEAD /health`,
CORS from `cors.allow_origins` (Starlette's middleware), and its absence when none is set."""

from __future__ import annotations

import pytest

from edge_router.config import ConfigError, build_config
from edge_router.simulator import Simulator

from .router_harness import AUTH, CHAT, routed

pytestmark = pytest.mark.integration

ORIGIN = "https://app.example.com"


@pytest.fixture
async def sim() -> Simulator:
    async with Simulator(3, profile="fast") as s:
        yield s  # type: ignore[misc]


async def test_one_model_from_the_catalog(sim: Simulator) -> None:
    async with routed(sim) as r:
        found = await r.client.get("/v1/models/claude-sonnet-4.5", headers=AUTH)
        missing = await r.client.get("/v1/models/gpt-9", headers=AUTH)
        anonymous = await r.client.get("/v1/models/gpt-4.1")
    assert found.status_code == 200
    assert found.json()["id"] == "claude-sonnet-4.5"
    assert found.json()["object"] == "model"
    assert missing.status_code == 404
    assert missing.json() == {"error": {
        "message": "The model 'gpt-9' does not exist.", "type": "invalid_request_error",
        "param": "model", "code": "model_not_found"}}
    assert anonymous.status_code == 401


async def test_a_model_id_with_a_slash(sim: Simulator) -> None:
    config = {"upstreams": [{"id": "a", "base_url": sim.url("ap-northeast"),
                             "models": ["openai/gpt-4.1"]}], "home": {"local": "a"}}
    async with routed(sim, **config) as r:
        resp = await r.client.get("/v1/models/openai/gpt-4.1", headers=AUTH)
    assert resp.status_code == 200
    assert resp.json()["id"] == "openai/gpt-4.1"


async def test_head_health(sim: Simulator) -> None:
    async with routed(sim) as r:
        resp = await r.client.head("/health")
    assert resp.status_code == 200
    assert resp.content == b""
    assert resp.headers["content-type"] == "application/json"


async def test_cors_preflight_and_answer_headers(sim: Simulator) -> None:
    async with routed(sim, cors={"allow_origins": [ORIGIN]}) as r:
        preflight = await r.client.options("/v1/chat/completions", headers={
            "origin": ORIGIN, "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type, x-stainless-os",
        })
        answer = await r.client.post("/v1/chat/completions", json=CHAT,
                                     headers={**AUTH, "origin": ORIGIN})
        stranger = await r.client.post("/v1/chat/completions", json=CHAT,
                                       headers={**AUTH, "origin": "https://evil.example"})
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "x-stainless-os" in preflight.headers["access-control-allow-headers"].lower()
    # the fast path's answers get the headers too, and scripts may read the router's own
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    exposed = answer.headers["access-control-expose-headers"].lower()
    assert "x-edge-upstream" in exposed and "x-request-id" in exposed
    assert "access-control-allow-origin" not in stranger.headers


async def test_no_cors_headers_unless_configured(sim: Simulator) -> None:
    async with routed(sim) as r:
        preflight = await r.client.options("/v1/chat/completions", headers={
            "origin": ORIGIN, "access-control-request-method": "POST"})
        answer = await r.client.post("/v1/chat/completions", json=CHAT,
                                     headers={**AUTH, "origin": ORIGIN})
    assert preflight.status_code == 405
    assert preflight.json()["error"]["code"] == "method_not_allowed"
    assert not any(h.startswith("access-control-") for h in answer.headers)


@pytest.mark.parametrize("origin", ["app.example.com", "https://app.example.com/", "ftp://x"])
def test_an_origin_that_is_no_origin_fails_at_start(origin: str) -> None:
    with pytest.raises(ConfigError, match=r"^cors\.allow_origins\[0\]: "):
        build_config({"cors": {"allow_origins": [origin]}})


async def test_x_edge_model_is_a_valid_header_whatever_the_model_name(sim: Simulator) -> None:
    # a control character in a header made the HTTP server drop the connection (schemathesis)
    async with routed(sim) as r:
        resp = await r.client.post("/v1/chat/completions", headers=AUTH, json={
            "model": "\x1b模型 x", "messages": [{"role": "user", "content": "hi"}]})
        plain = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
    assert resp.status_code == 200
    assert resp.headers["x-edge-model"] == "%1B%E6%A8%A1%E5%9E%8B%20x"
    assert plain.headers["x-edge-model"] == "gpt-4.1"
