"""Anthropic's credential headers in keys mode (SPEC §12): a router key may come as `x-api-key`
or `Authorization: Bearer`; the upstream gets the router's own upstream key as `x-api-key`,
never the client's key and never an `Authorization` header."""

from __future__ import annotations

import random

import httpx
import pytest

from edge_router.api.app import create_app
from edge_router.build import build_deps
from edge_router.clock import FakeClock
from edge_router.config import build_config
from edge_router.keys.auth import KeysAuth
from edge_router.keys.tokens import KeyRecord, hash_key
from edge_router.simulator import Simulator

from .router_harness import sim_config

pytestmark = pytest.mark.integration

ROUTER_KEY = "sk-edge-" + "b" * 43
UPSTREAM_KEY = "sk-ant-upstream-key"
BODY = {"model": "claude-sonnet-4.5", "max_tokens": 8,
        "messages": [{"role": "user", "content": "hi"}]}


class OneKey:
    async def find(self, key_hash: str) -> KeyRecord | None:
        return KeyRecord("bob", key_hash, 1.0, ()) if key_hash == hash_key(ROUTER_KEY) else None


@pytest.mark.parametrize("credential", [{"x-api-key": ROUTER_KEY},
                                        {"authorization": f"Bearer {ROUTER_KEY}"}])
async def test_keys_mode_sends_the_upstream_key_as_x_api_key(credential: dict[str, str]) -> None:
    async with Simulator(1, profile="fast", require_key=UPSTREAM_KEY) as sim:
        config = build_config(sim_config(sim, auth={"mode": "keys"}))
        deps = build_deps(config, auth=KeysAuth(OneKey(), clock=FakeClock()),
                          upstream_auth=lambda upstream_id: UPSTREAM_KEY, rng=random.Random(0))
        transport = httpx.ASGITransport(app=create_app(deps))
        async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
            ok = await client.post("/v1/messages", json=BODY,
                                   headers={**credential, "anthropic-version": "2023-06-01"})
            wrong = await client.post("/v1/messages", json=BODY, headers={"x-api-key": "sk-x"})
        await deps.service.client.close()
        (seen,) = sim.requests("ap-northeast")
    assert ok.status_code == 200, ok.text
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["x-api-key"] == UPSTREAM_KEY
    assert "authorization" not in headers
    assert headers["anthropic-version"] == "2023-06-01"
    assert wrong.status_code == 401
    assert wrong.json() == {"type": "error", "error": {
        "type": "authentication_error", "message": "Incorrect API key provided."}}
