"""Issue 11: what a client sends must not grow the router's memory, slip a second `model` past
the checks, buffer an unbounded answer, or make the router build a redirect (SPEC §3). The app
runs in process over ASGI; the upstreams are a scripted aiohttp server on real sockets."""

from __future__ import annotations

import asyncio
import gc
import gzip
import tracemalloc
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from tests.support.scripted import CHAT_OK, Scripted, json_answer, router, scripted

pytestmark = pytest.mark.integration

CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}
AUTH = {"authorization": "Bearer sk-a"}
MIB = 1024 * 1024


@pytest.fixture
async def up() -> AsyncIterator[Scripted]:
    async with scripted("a", "b") as s:
        async def ok(upstream_id: str, request: web.Request) -> web.StreamResponse:
            return json_answer(200, CHAT_OK)
        s.handler = ok
        yield s


def growth(before: tracemalloc.Snapshot) -> int:
    gc.collect()
    after = tracemalloc.take_snapshot()
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


# -- finding 4: model names are capped, caches are bounded -------------------------------------
async def test_long_model_names_are_refused_and_hold_no_memory(up: Scripted) -> None:
    async with router(up) as (client, _):
        await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)  # warm up
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            # WHEN forty clients send distinct 1 MB model names
            for i in range(40):
                body = {**CHAT, "model": f"{i:02d}" + "m" * MIB}
                resp = await client.post("/v1/chat/completions", json=body, headers=AUTH)
                # THEN each is 400 before any upstream call
                assert resp.status_code == 400
                error = resp.json()["error"]
                assert (error["code"], error["param"]) == ("invalid_field", "model")
                assert len(resp.content) < 1000  # the name is not echoed back
            held = growth(before)
        finally:
            tracemalloc.stop()
    assert up.calls() == 1
    assert held < 4 * MIB, f"{held / MIB:.1f} MiB held after 40 long names"


async def test_the_model_list_cache_is_bounded_however_many_credentials(up: Scripted) -> None:
    models = orjson.dumps({"object": "list", "data": [
        {"id": f"model-{i:04d}", "object": "model", "created": 0, "owned_by": "x"}
        for i in range(300)]})

    async def listing(upstream_id: str, request: web.Request) -> web.StreamResponse:
        return json_answer(200, models)

    up.handler = listing
    async with router(up, upstreams=[{"id": "a", "base_url": up.url("a")}]) as (client, _):
        for i in range(20):  # warm up
            assert (await client.get("/v1/models", headers={"authorization": f"Bearer w{i}"})
                    ).status_code == 200
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            # WHEN 600 distinct Bearer strings list the models (passthrough: each a credential)
            for i in range(600):
                resp = await client.get("/v1/models", headers={"authorization": f"Bearer k{i}"})
                assert resp.status_code == 200
            held = growth(before)
        finally:
            tracemalloc.stop()
    # THEN the cache keeps a bounded number of lists (~80 KB each here), not 600 of them
    assert held < 16 * MIB, f"{held / MIB:.1f} MiB held after 600 credentials"


# -- finding 5: a repeated top-level key is refused --------------------------------------------
async def test_a_second_model_key_is_400_invalid_json_without_an_upstream_call(
    up: Scripted,
) -> None:
    body = b'{"model":"gpt-4.1","model":"o3-pro","messages":[{"role":"user","content":"hi"}]}'
    async with router(up) as (client, _):
        resp = await client.post("/v1/chat/completions", content=body,
                                 headers={**AUTH, "content-type": "application/json"})
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_json"
    assert up.calls() == 0


# -- finding 8: upstream answers are capped after decompression --------------------------------
async def test_a_gzip_bomb_is_a_failed_attempt_never_buffered_past_the_limit(
    up: Scripted,
) -> None:
    bomb = gzip.compress(b'{"pad":"' + b"0" * (48 * MIB) + b'"}', compresslevel=9)

    async def inflating(upstream_id: str, request: web.Request) -> web.StreamResponse:
        return web.Response(body=bomb, headers={"content-type": "application/json",
                                                "content-encoding": "gzip"})

    up.handler = inflating
    async with router(up, limits={"max_response_bytes": MIB}) as (client, deps):
        tracemalloc.start()
        try:
            resp = await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert resp.status_code == 502
        assert "limit" in resp.json()["error"]["message"]
        assert resp.headers["x-edge-attempts"] == "3"  # max_attempts over two upstreams
        # neutral for the breaker: a client can ask for a huge answer
        assert all(s.breaker.hard_run == s.breaker.soft_run == 0
                   for s in deps.registry.states.values())
    assert len(bomb) < MIB and peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB"


async def test_a_long_plain_answer_is_cut_at_the_limit_and_a_short_one_passes(
    up: Scripted,
) -> None:
    async def sized(upstream_id: str, request: web.Request) -> web.StreamResponse:
        pad = b" " * (2 * MIB) if upstream_id == "a" else b""
        return json_answer(200, CHAT_OK[:-1] + pad + b"}")

    up.handler = sized
    async with router(up, limits={"max_response_bytes": MIB}) as (client, _):
        resp = await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        # a JSON answer to a streaming request is taken whole too: the same cap applies
        streamed = await client.post("/v1/chat/completions", json={**CHAT, "stream": True},
                                     headers=AUTH)
    for answer in (resp, streamed):
        assert answer.status_code == 200
        assert answer.headers["x-edge-upstream"] == "b"


# -- finding 9: no redirect from the client's Host ---------------------------------------------
async def test_a_trailing_slash_is_a_404_never_a_redirect_to_the_clients_host(
    up: Scripted,
) -> None:
    async with router(up) as (client, _):
        resp = await client.post("/v1/chat/completions/", json=CHAT,
                                 headers={**AUTH, "host": "evil.example",
                                          "x-forwarded-host": "evil.example"})
        get = await client.get("/health/", headers={"host": "evil.example"})
    for answer in (resp, get):
        assert answer.status_code == 404
        assert "location" not in answer.headers
        assert answer.json()["error"]["code"] == "not_found"


# -- finding 11: the client's upload is not router overhead ------------------------------------
async def test_overhead_excludes_a_slow_upload(up: Scripted) -> None:
    body = orjson.dumps(CHAT)

    async def slowly() -> AsyncIterator[bytes]:
        for part in (body[:10], body[10:20], body[20:]):
            yield part
            await asyncio.sleep(0.4)

    async with router(up) as (client, _):
        resp = await client.post("/v1/chat/completions", content=slowly(),
                                 headers={**AUTH, "content-type": "application/json"})
    assert resp.status_code == 200
    assert float(resp.headers["x-edge-overhead-ms"]) < 600  # the upload took >= 1,200 ms
