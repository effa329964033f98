"""What a client reads in the router's own errors after transport failures: plain words, never a
library's class name; and the `Retry-After` of an all-429 answer is the upstream's."""

from __future__ import annotations

import re

import orjson
import pytest

from edge_router.simulator import Simulator

from .router_harness import AUTH, CHAT, routed

pytestmark = pytest.mark.integration

#: `ClientPayloadError`, `ServerDisconnectedError`, `ClientOSError`, `TimeoutError`…
CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Exception)\b")


@pytest.fixture
async def sim() -> Simulator:
    async with Simulator(3, profile="fast") as s:
        yield s  # type: ignore[misc]


async def test_a_502_after_resets_names_no_library_class(sim: Simulator) -> None:
    for upstream_id in sim.ids:
        await sim.set_fault(upstream_id, "reset")
    async with routed(sim) as r:
        resp = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        status = r.deps.registry.states["ap-northeast"].last_error
    assert resp.status_code == 502
    message = resp.json()["error"]["message"]
    assert message.startswith("All 3 upstream attempt(s) failed; last error: ")
    assert not CLASS_NAME.search(message), message
    assert status is not None and not CLASS_NAME.search(status), status


async def test_a_stream_cut_mid_way_names_no_library_class(sim: Simulator) -> None:
    await sim.set_fault("ap-northeast", "cut")
    async with routed(sim) as r:
        resp = await r.client.post(
            "/v1/chat/completions", json={**CHAT, "stream": True}, headers=AUTH
        )
    events = [line for line in resp.text.splitlines() if line.startswith("data: ")]
    error = orjson.loads(events[-1][6:])["error"]
    assert error["code"] == "stream_interrupted"
    assert error["message"].startswith("The upstream stream broke")
    assert not CLASS_NAME.search(error["message"]), error["message"]


def test_the_pattern_catches_the_names_it_is_for() -> None:
    for name in ("ClientPayloadError", "ServerDisconnectedError", "ClientOSError",
                 "TimeoutError", "ConnectionResetError"):  # fmt: skip
        assert CLASS_NAME.search(f"stream broke: {name}"), name
    assert not CLASS_NAME.search("stream broke: the answer was cut short")


async def test_the_first_all_429_answer_carries_the_upstreams_retry_after(
    sim: Simulator,
) -> None:
    # GIVEN three upstreams that all answer 429 for 9 s, and two attempts per request
    for upstream_id in sim.ids:
        await sim.set_fault(upstream_id, "status:429,retry_after=9")
    async with routed(sim, routing={"max_attempts": 2}) as r:
        # WHEN the first request meets two of them
        resp = await r.client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
    # THEN the 429 says to come back in ~9 s (an untried upstream is no sooner), not 1 s
    assert resp.status_code == 429
    assert resp.headers["x-edge-attempts"] == "2"
    assert 8 <= int(resp.headers["retry-after"]) <= 9
