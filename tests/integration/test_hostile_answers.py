"""Issue 11: upstream answers a hostile client (or a broken proxy) can provoke must not take a
region down, lock other clients out, or confuse the stream (SPEC §5, amended). The app runs in
process over ASGI; the upstreams are a scripted aiohttp server on real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from edge_router.routing import breaker as br
from tests.support.scripted import CHAT_OK, Scripted, json_answer, router, scripted

pytestmark = pytest.mark.integration

CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}
IDS = ("a", "b", "c")
QUOTA = (b'{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota",'
         b'"param":null,"code":"insufficient_quota"}}')


@pytest.fixture
async def up() -> AsyncIterator[Scripted]:
    async with scripted(*IDS) as s:
        yield s


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


# -- finding 1: a non-JSON 4xx never counts against the breaker -------------------------------
async def html_413(upstream_id: str, request: web.Request) -> web.StreamResponse:
    return web.Response(status=413, text="<html><body><h1>413 Request Entity Too Large</h1>"
                        "<hr><center>nginx</center></body></html>", content_type="text/html")


async def test_html_4xx_everywhere_is_answered_with_its_status_and_opens_no_circuit(
    up: Scripted,
) -> None:
    up.handler = html_413
    async with router(up) as (client, deps):
        # WHEN a dozen requests meet nginx's HTML 413 on every upstream
        for _ in range(12):
            resp = await client.post("/v1/chat/completions", json=CHAT, headers=bearer("sk-a"))
            # THEN each is answered with that status in OpenAI's shape, after every attempt
            assert resp.status_code == 413
            assert resp.headers["content-type"] == "application/json"
            assert resp.headers["x-edge-attempts"] == "3"
            error = resp.json()["error"]
            assert error["code"] == "upstream_rejected_request"
            assert error["type"] == "invalid_request_error"
            assert "413" in error["message"]
        # AND no circuit opened: /health stays 200, no breaker counted a failure
        assert (await client.get("/health")).status_code == 200
        now = deps.clock.wall()
        for s in deps.registry.states.values():
            assert deps.registry.state_of(s.upstream.id, now) is br.State.CLOSED
            assert (s.breaker.hard_run, s.breaker.soft_run) == (0, 0)
    assert up.calls() == 36


async def test_html_4xx_mixed_with_a_5xx_is_502(up: Scripted) -> None:
    async def mixed(upstream_id: str, request: web.Request) -> web.StreamResponse:
        if upstream_id == "a":
            return json_answer(503, b'{"error":{"message":"down"}}')
        return web.Response(status=403, text="<html>Forbidden by CDN</html>",
                            content_type="text/html")

    up.handler = mixed
    async with router(up) as (client, _):
        resp = await client.post("/v1/chat/completions", json=CHAT, headers=bearer("sk-a"))
    assert resp.status_code == 502
    assert resp.json()["error"]["code"] == "all_upstreams_failed"


async def test_html_4xx_fails_over_to_an_upstream_that_answers(up: Scripted) -> None:
    async def first_refuses(upstream_id: str, request: web.Request) -> web.StreamResponse:
        if upstream_id == "a":
            return await html_413(upstream_id, request)
        return json_answer(200, CHAT_OK)

    up.handler = first_refuses
    async with router(up) as (client, _):
        resp = await client.post("/v1/chat/completions", json=CHAT, headers=bearer("sk-a"))
    assert resp.status_code == 200
    assert resp.headers["x-edge-upstream"] == "b"


# -- finding 2: in passthrough a 429 marks (upstream, credential), and its body passes ---------
async def quota_for_a(upstream_id: str, request: web.Request) -> web.StreamResponse:
    if request.headers["authorization"] == "Bearer sk-exhausted":
        return json_answer(429, QUOTA, **{"retry-after": "20", "x-ratelimit-remaining-requests": "0"})
    return json_answer(200, CHAT_OK)


async def test_one_clients_429_does_not_rate_limit_another_client(up: Scripted) -> None:
    up.handler = quota_for_a
    async with router(up) as (client, _):
        # WHEN a client whose own key is exhausted calls
        resp = await client.post("/v1/chat/completions", json=CHAT,
                                 headers=bearer("sk-exhausted"))
        # THEN it gets the upstream's own 429 body (insufficient_quota) with a Retry-After
        assert resp.status_code == 429
        assert resp.content == QUOTA
        assert resp.headers["x-ratelimit-remaining-requests"] == "0"
        assert 19 <= int(resp.headers["retry-after"]) <= 20
        assert up.calls() == 3
        # AND another client is served at once by the home upstream
        other = await client.post("/v1/chat/completions", json=CHAT, headers=bearer("sk-fine"))
        assert other.status_code == 200
        assert other.headers["x-edge-upstream"] == "a"
        # AND the exhausted client is still marked: no upstream call for it now
        again = await client.post("/v1/chat/completions", json=CHAT,
                                  headers=bearer("sk-exhausted"))
        assert again.status_code == 429
        assert again.json()["error"]["code"] == "rate_limited"
        assert up.calls() == 4
        # AND /status counts the credential-scoped marks but lists none
        status = (await client.get("/status")).json()
    for upstream in status["upstreams"]:
        assert upstream["rate_limited_until"] is None
        assert upstream["rate_limited_credentials"] == 1
    assert "sk-exhausted" not in orjson.dumps(status).decode()


async def test_keys_mode_429_marks_the_upstream_for_everyone(up: Scripted) -> None:
    up.handler = quota_for_a
    async with router(up) as (client, deps):
        await client.post("/v1/chat/completions", json=CHAT, headers=bearer("sk-exhausted"))
        # the service marks upstream-wide when the call carries no credential scope (keys mode)
        now = deps.clock.wall()
        deps.registry.mark_rate_limited("a", now + 30, now=now)
        resp = await client.post("/v1/chat/completions", json=CHAT, headers=bearer("sk-fine"))
    assert resp.headers["x-edge-upstream"] == "b"


# -- finding 3: retry-after clamped, ASCII only, and a newer answer replaces the mark ----------
@pytest.mark.parametrize("retry_after", ["1000000000", "Fri, 31 Dec 9999 23:59:59 GMT"])
async def test_an_absurd_retry_after_marks_for_at_most_the_cap(
    up: Scripted, retry_after: str
) -> None:
    async def limited(upstream_id: str, request: web.Request) -> web.StreamResponse:
        return json_answer(429, QUOTA, **{"retry-after": retry_after})

    up.handler = limited
    async with router(up, routing={"retry_after_cap_s": 60}) as (client, deps):
        resp = await client.post("/v1/chat/completions", json=CHAT, headers=bearer("sk-x"))
        assert resp.status_code == 429
        assert int(resp.headers["retry-after"]) <= 60
        now = deps.clock.wall()
        marks = deps.registry.candidates(deps.registry.serving("gpt-4.1"), now, scope="Bearer sk-x")
    assert all(now < c.rate_limited_until <= now + 60 for c in marks)


# -- finding 10: `data: [DONE]` ends the stream ------------------------------------------------
def sse(*events: bytes) -> bytes:
    return b"".join(b"data: " + e + b"\n\n" for e in events)


CHUNK = b'{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}'
USAGE = b'{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":9,"total_tokens":16}}'


@pytest.mark.parametrize("split", [None, 3, 9], ids=["one-write", "split-in-marker", "split-late"])
async def test_nothing_after_done_is_relayed_and_a_close_after_it_is_a_normal_end(
    up: Scripted, split: int | None
) -> None:
    before = sse(CHUNK, USAGE)
    after = sse(b'{"junk":"after done","usage":{"prompt_tokens":999,"completion_tokens":999}}')

    async def stream_then_reset(upstream_id: str, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(before)
        done = b"data: [DONE]\n\n"
        if split is None:
            await resp.write(done + after)
        else:
            await resp.write(done[:split])
            await resp.write(done[split:] + after)
        assert request.transport is not None
        request.transport.abort()  # no chunked terminator: a reset right after [DONE]
        return resp

    up.handler = stream_then_reset
    async with router(up) as (client, deps):
        deps.metrics.keep_records = True  # type: ignore[attr-defined]
        resp = await client.post("/v1/chat/completions", json={**CHAT, "stream": True},
                                 headers=bearer("sk-a"))
        assert resp.status_code == 200
        assert resp.content == before + b"data: [DONE]\n\n"
        (record,) = deps.metrics.records  # type: ignore[attr-defined]
        assert record.error_class is None
        assert (record.prompt_tokens, record.completion_tokens) == (7, 9)
        state = deps.registry.states["a"].breaker
        assert (state.hard_run, state.soft_run) == (0, 0)
