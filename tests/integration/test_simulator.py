"""The simulator over real sockets: answers, faults as a client sees them, the /_sim API."""

from __future__ import annotations

import asyncio
import errno
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import openai
import pytest

from edge_router.simulator import Simulator, UpstreamSpec

pytestmark = pytest.mark.integration

CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Say hello"}]}
STREAM = {**CHAT, "stream": True}
#: For faults that never answer: a short read timeout, while connecting and sending may take
#: as long as a busy machine needs (a connect timeout would not be the fault under test).
READ_ONLY_SHORT = httpx.Timeout(5.0, read=0.3)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(3, profile="fast", seed=0) as simulator:
        yield simulator


async def post(
    sim: Simulator, upstream_id: str, path: str, payload: Any = CHAT,
    timeout: float | httpx.Timeout = 2.0,
) -> httpx.Response:
    # A fresh client each time: a pooled connection must not hide a fault (or a refused port).
    async with httpx.AsyncClient(timeout=timeout) as client:
        return await client.post(sim.url(upstream_id) + path, json=payload)


async def control(
    sim: Simulator, via: str, method: str, path: str, payload: Any = None
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=2.0) as client:
        return await client.request(method, sim.control_url(via) + path, json=payload)


async def test_ports_urls_and_ids(sim: Simulator) -> None:
    assert sim.ids == ["ap-northeast", "ap-southeast", "us-west"]
    ports = [sim.port(i) for i in sim.ids]
    assert len(set(ports)) == 3 and all(p > 0 for p in ports)
    assert sim.url("us-west") == f"http://127.0.0.1:{sim.port('us-west')}/v1"


async def test_openai_sdk_gets_chat_stream_embeddings_and_models(sim: Simulator) -> None:
    client = openai.AsyncOpenAI(base_url=sim.url("ap-southeast"), api_key="sk-test", max_retries=0)
    async with client:
        chat = await client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "hi"}]
        )
        assert chat.choices[0].message.content is not None
        assert "Hello from ap-southeast" in chat.choices[0].message.content
        assert chat.usage is not None and chat.usage.total_tokens > 0
        stream = await client.chat.completions.create(
            model="deepseek-v3.2",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces, usage = [], None
        async for chunk in stream:
            pieces += [c.delta.content or "" for c in chunk.choices]
            usage = chunk.usage or usage
        assert "Hello from ap-southeast" in "".join(pieces) and "deepseek-v3.2" in "".join(pieces)
        assert usage is not None
        vectors = await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
        assert [len(d.embedding) for d in vectors.data] == [1536, 1536]
        models = await client.models.list()
        assert "claude-sonnet-4.5" in [m.id for m in models.data]


async def test_every_response_carries_the_upstreams_own_request_id(sim: Simulator) -> None:
    first = await post(sim, "us-west", "/chat/completions")
    second = await post(sim, "us-west", "/chat/completions", payload={"model": "m"})
    assert first.headers["x-request-id"] == "sim-us-west-000001"
    assert second.status_code == 400 and second.headers["x-request-id"] == "sim-us-west-000002"


async def test_sse_stream_has_event_stream_type_and_ends_with_done(sim: Simulator) -> None:
    async with (
        httpx.AsyncClient() as client,
        client.stream("POST", sim.url("us-west") + "/chat/completions", json=STREAM) as r,
    ):
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line async for line in r.aiter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert json.loads(lines[0].removeprefix("data: "))["object"] == "chat.completion.chunk"


async def test_request_log_keeps_the_exact_body_bytes_and_headers(sim: Simulator) -> None:
    # GIVEN a body whose bytes a re-serialiser would change (spacing, key order, escapes, unicode)
    raw = b'{ "model":"gpt-4.1",  "messages":[{"role":"user","content":"caf\\u00e9 \xe2\x98\x95"}], "z":1,"a":2 }'
    async with httpx.AsyncClient() as client:
        await client.post(
            sim.url("ap-northeast") + "/chat/completions",
            content=raw,
            headers={
                "content-type": "application/json",
                "x-custom": "yes",
                "authorization": "Bearer sk-9",
            },
        )
    # WHEN the log is read through the control API
    reply = await control(sim, "ap-northeast", "GET", "/requests?limit=1")
    (entry,) = reply.json()["requests"]
    # THEN it holds the bytes and headers exactly as received
    assert entry["body"].encode("utf-8") == raw
    assert entry["method"] == "POST" and entry["path"] == "/v1/chat/completions"
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    assert headers["x-custom"] == "yes" and headers["authorization"] == "Bearer sk-9"
    assert sim.requests("ap-northeast")[-1]["body_base64"]


async def test_state_counts_v1_requests_by_path_and_not_control_calls(sim: Simulator) -> None:
    await post(sim, "us-west", "/chat/completions")
    await post(sim, "us-west", "/embeddings", {"model": "text-embedding-3-small", "input": "x"})
    await control(sim, "us-west", "GET", "/state")
    await control(sim, "us-west", "GET", "/requests")
    state = (await control(sim, "us-west", "GET", "/state")).json()
    assert state["requests"] == 2
    assert state["by_path"] == {"/v1/chat/completions": 1, "/v1/embeddings": 1}
    assert state["fault"]["spec"] == "ok"
    everyone = (await control(sim, "us-west", "GET", "/state?upstream=*")).json()
    assert [u["requests"] for u in everyone["upstreams"]] == [0, 0, 2]


async def test_status_fault_with_retry_headers_and_openai_error_body(sim: Simulator) -> None:
    await sim.set_fault("us-west", "status:429,retry_after=2,retry_after_ms=1500")
    reply = await post(sim, "us-west", "/chat/completions")
    assert reply.status_code == 429
    assert (reply.headers["retry-after"], reply.headers["retry-after-ms"]) == ("2", "1500")
    assert reply.json()["error"]["type"] == "rate_limit_error"
    await sim.set_fault("us-west", "status:503")
    reply = await post(sim, "us-west", "/chat/completions")
    assert reply.status_code == 503 and "retry-after" not in reply.headers
    assert reply.json()["error"]["code"] == "service_unavailable"
    assert sim.state("us-west")["requests"] == 2  # faulted requests are counted too


async def test_reset_aborts_the_connection_with_no_response(sim: Simulator) -> None:
    await sim.set_fault("us-west", "reset")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientOSError) as info:
            await session.post(sim.url("us-west") + "/chat/completions", json=CHAT)
    assert info.value.errno == errno.ECONNRESET


async def test_hang_reads_the_request_and_never_answers(sim: Simulator) -> None:
    await sim.set_fault("us-west", "hang")
    with pytest.raises(httpx.ReadTimeout):
        await post(sim, "us-west", "/chat/completions", timeout=READ_ONLY_SHORT)
    assert json.loads(sim.requests("us-west")[-1]["body"]) == CHAT


async def test_stall_sends_headers_then_no_body(sim: Simulator) -> None:
    await sim.set_fault("us-west", "stall")
    async with (
        httpx.AsyncClient(timeout=READ_ONLY_SHORT) as client,
        client.stream("POST", sim.url("us-west") + "/chat/completions", json=CHAT) as r,
    ):
        assert r.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            await r.aread()


async def test_refuse_closes_the_port_and_ok_through_another_upstream_reopens_it(
    sim: Simulator,
) -> None:
    port = sim.port("us-west")
    reply = await control(
        sim, "ap-northeast", "POST", "/fault", {"upstream": "us-west", "spec": "refuse"}
    )
    assert reply.json()["listening"] is False
    with pytest.raises(httpx.ConnectError):
        await post(sim, "us-west", "/chat/completions")
    reply = await control(
        sim, "ap-southeast", "POST", "/fault", {"upstream": "us-west", "spec": "ok"}
    )
    assert reply.json()["listening"] is True
    assert (await post(sim, "us-west", "/chat/completions")).status_code == 200
    assert sim.port("us-west") == port


async def test_html_fault_is_a_non_json_page(sim: Simulator) -> None:
    await sim.set_fault("us-west", "html")
    reply = await post(sim, "us-west", "/chat/completions")
    assert reply.status_code == 502 and reply.headers["content-type"].startswith("text/html")
    assert reply.text.startswith("<html>")
    await sim.set_fault("us-west", "html:200")
    assert (await post(sim, "us-west", "/chat/completions")).status_code == 200


async def test_truncated_is_a_complete_message_with_half_the_json(sim: Simulator) -> None:
    whole = (await post(sim, "us-west", "/chat/completions")).content
    await sim.set_fault("us-west", "truncated")
    reply = await post(sim, "us-west", "/chat/completions")
    assert reply.status_code == 200
    assert int(reply.headers["content-length"]) == len(reply.content) == len(whole) // 2
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.content)


async def test_cut_stream_delivers_two_events_then_drops(sim: Simulator) -> None:
    await sim.set_fault("us-west", "cut")
    events: list[str] = []
    async with (
        httpx.AsyncClient() as client,
        client.stream("POST", sim.url("us-west") + "/chat/completions", json=STREAM) as r,
    ):
        assert r.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            async for line in r.aiter_lines():
                events += [line] if line else []
    assert len(events) == 2 and all(e.startswith("data: {") for e in events)


async def test_cut_json_promises_more_bytes_than_it_sends(sim: Simulator) -> None:
    await sim.set_fault("us-west", "cut")
    with pytest.raises(httpx.RemoteProtocolError, match=r"received \d+ bytes, expected \d+"):
        await post(sim, "us-west", "/chat/completions")


async def test_delay_and_trickle_slow_the_answer_down(sim: Simulator) -> None:
    await sim.set_fault("us-west", "delay:0.2")
    started = time.perf_counter()
    assert (await post(sim, "us-west", "/chat/completions")).status_code == 200
    assert time.perf_counter() - started >= 0.2
    await sim.set_fault("us-west", "trickle:0.001")
    started = time.perf_counter()
    reply = await post(sim, "us-west", "/embeddings", {"model": "e", "input": "x", "dimensions": 2})
    assert reply.json()["object"] == "list"
    assert time.perf_counter() - started >= 0.001 * len(reply.content) * 0.9


async def test_count_modifier_fails_the_next_n_then_heals(sim: Simulator) -> None:
    await sim.set_fault("us-west", "status:500,count=2")
    codes = [(await post(sim, "us-west", "/chat/completions")).status_code for _ in range(4)]
    assert codes == [500, 500, 200, 200]
    assert sim.state("us-west")["fault"]["spec"] == "ok"


async def test_rate_modifier_fails_about_that_share(sim: Simulator) -> None:
    await sim.set_fault("us-west", "status:503,rate=0.5")
    async with httpx.AsyncClient() as client:
        codes = [
            (await client.post(sim.url("us-west") + "/chat/completions", json=CHAT)).status_code
            for _ in range(60)
        ]
    assert 15 <= codes.count(503) <= 45 and codes.count(200) == 60 - codes.count(503)


async def test_faults_apply_to_v1_only_and_reset_clears_everything(sim: Simulator) -> None:
    await control(sim, "us-west", "POST", "/fault", {"spec": "status:503"})
    assert (await control(sim, "us-west", "GET", "/state")).status_code == 200
    assert (await post(sim, "us-west", "/chat/completions")).status_code == 503
    reply = await control(sim, "us-west", "POST", "/reset")
    assert reply.json()["requests"] == 0 and reply.json()["fault"]["spec"] == "ok"
    assert sim.requests("us-west") == []
    assert (await post(sim, "us-west", "/chat/completions")).status_code == 200


async def test_control_api_rejects_bad_specs_and_unknown_upstreams(sim: Simulator) -> None:
    bad = await control(sim, "us-west", "POST", "/fault", {"spec": "status:99"})
    assert bad.status_code == 400 and "status code" in bad.json()["error"]["message"]
    unknown = await control(sim, "us-west", "POST", "/fault", {"upstream": "mars", "spec": "ok"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_upstream"
    assert (await control(sim, "us-west", "GET", "/fault")).status_code == 405
    everyone = await control(
        sim, "us-west", "POST", "/fault", {"upstream": "*", "spec": "status:502"}
    )
    assert [u["fault"]["spec"] for u in everyone.json()["upstreams"]] == ["status:502"] * 3


async def test_start_faults_models_and_required_key() -> None:
    specs = [
        UpstreamSpec("us-east", models=("only-model",), fault="status:401"),
        UpstreamSpec("eu-central"),
    ]
    async with Simulator(specs, require_key="sk-right") as sim, httpx.AsyncClient() as client:
        assert (await client.get(sim.url("us-east") + "/models")).status_code == 401
        wrong = await client.get(
            sim.url("eu-central") + "/models", headers={"authorization": "Bearer sk-wrong"}
        )
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
        await sim.set_fault("us-east", "ok")
        right = await client.get(
            sim.url("us-east") + "/models", headers={"authorization": "Bearer sk-right"}
        )
        assert [m["id"] for m in right.json()["data"]] == ["only-model"]


async def test_seed_profile_waits_before_the_headers() -> None:
    async with Simulator([UpstreamSpec("us-east")], profile="seed") as sim:
        started = time.perf_counter()
        assert (await post(sim, "us-east", "/chat/completions")).status_code == 200
        assert time.perf_counter() - started >= 0.040


async def test_close_ends_parked_requests_promptly() -> None:
    sim = await Simulator(1, profile="fast").start()
    await sim.set_fault("ap-northeast", "hang")
    pending = asyncio.create_task(post(sim, "ap-northeast", "/chat/completions", timeout=5.0))
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    await sim.close()
    with pytest.raises(httpx.TransportError):
        await pending
    assert time.perf_counter() - started < 3.0  # not the client's 5 s timeout
