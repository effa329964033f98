"""SSE keep-alive (SPEC §11): after `routing.stream_keepalive_s` of upstream silence the router
sends `: keep-alive` comments, which SSE clients (the `openai` SDK) skip; 0 turns them off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import openai
import pytest

from edge_router.config import build_config
from tests.integration.router_harness import in_process
from tests.support.token_upstream import TokenUpstream

pytestmark = pytest.mark.integration

KEEPALIVE = ": keep-alive\n\n"
GAPS = [0.0, 1.0, 0.0]  # a second of silence between the first and second token
CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}], "stream": True}


@asynccontextmanager
async def router(upstream: TokenUpstream, keepalive_s: float) -> AsyncIterator[httpx.AsyncClient]:
    config = build_config({
        "upstreams": [{"id": "tokens", "base_url": upstream.base_url}],
        "routing": {"stream_keepalive_s": keepalive_s, "first_byte_timeout_s": 5.0},
    })  # fmt: skip
    async with in_process(config) as (client, _):
        yield client


async def test_silence_is_filled_with_keepalive_comments_the_sdk_skips() -> None:
    with TokenUpstream(GAPS) as upstream:
        async with router(upstream, keepalive_s=0.25) as client:
            raw = await client.post("/v1/chat/completions", json=CHAT,
                                    headers={"authorization": "Bearer sk-test"})
            sdk = openai.AsyncOpenAI(base_url="http://router/v1", api_key="sk-test",
                                     http_client=client, max_retries=0)
            stream = await sdk.chat.completions.create(
                model="gpt-4.1", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            tokens = [c.choices[0].delta.content async for c in stream
                      if c.choices and c.choices[0].delta.content]  # fmt: skip
    assert raw.status_code == 200
    text = raw.text
    # the comments sit in the silence, between the first and the second token
    between = text[text.index("tok0") : text.index("tok1")]
    assert between.count(KEEPALIVE) >= 2  # ~4 in a second at 0.25 s; a loaded machine drifts
    assert text.count(KEEPALIVE) == between.count(KEEPALIVE)
    assert text.rstrip().endswith("data: [DONE]")
    assert tokens == ["tok0 ", "tok1 ", "tok2 "]


async def test_keepalive_zero_sends_no_comment() -> None:
    with TokenUpstream(GAPS) as upstream:
        async with router(upstream, keepalive_s=0) as client:
            raw = await client.post("/v1/chat/completions", json=CHAT,
                                    headers={"authorization": "Bearer sk-test"})
    assert raw.status_code == 200
    assert KEEPALIVE not in raw.text
    assert "tok2" in raw.text


def test_the_default_is_fifteen_seconds_and_negative_is_refused() -> None:
    assert build_config({}).routing.stream_keepalive_s == 15.0
    with pytest.raises(Exception, match="stream_keepalive_s"):
        build_config({"routing": {"stream_keepalive_s": -1}})
