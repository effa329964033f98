"""Streams of keys with a `tpm` or a budget report their usage (SPEC §13) even when the client
did not ask: the request is made to ask (`api.requests.ask_for_stream_usage`) and the usage-only
chunk is kept from the client (`reply.without_usage_event`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from edge_router.api.requests import ask_for_stream_usage, parse_object
from edge_router.reply import KEEPALIVE, MAX_HELD_BYTES, without_usage_event


def test_a_request_without_stream_options_keeps_its_bytes_with_the_option_in_front() -> None:
    body = b'  {"model": "gpt-4.1",\n "stream": true, "messages": [{"role":"user","content":"hi"}], "x": 1.50}'
    asked = ask_for_stream_usage(body, parse_object(body))
    assert asked is not None
    new_body, parsed = asked
    assert new_body == (b'  {"stream_options":{"include_usage":true},"model": "gpt-4.1",\n "stream": '
                        b'true, "messages": [{"role":"user","content":"hi"}], "x": 1.50}')
    assert parse_object(new_body) == parsed == {**parse_object(body),
                                                "stream_options": {"include_usage": True}}


@pytest.mark.parametrize("options", [{}, {"include_usage": False}, {"include_obfuscation": False}, None])
def test_stream_options_of_the_clients_own_are_kept_with_include_usage_set(options: object) -> None:
    body = orjson.dumps({"model": "m", "stream": True, "messages": [1], "stream_options": options})
    asked = ask_for_stream_usage(body, parse_object(body))
    assert asked is not None
    assert orjson.loads(asked[0])["stream_options"] == {**(options or {}), "include_usage": True}
    assert asked[1] == orjson.loads(asked[0])


@pytest.mark.parametrize("options", [{"include_usage": True}, "yes", 3])
def test_a_request_that_asks_or_is_malformed_is_left_alone(options: object) -> None:
    body = orjson.dumps({"model": "m", "stream": True, "messages": [1], "stream_options": options})
    assert ask_for_stream_usage(body, parse_object(body)) is None


def event(payload: object) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


CHUNK = event({"id": "c", "object": "chat.completion.chunk",
               "choices": [{"index": 0, "delta": {"content": "hi"}}], "usage": None})
LAST = event({"id": "c", "object": "chat.completion.chunk",
              "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None})
USAGE = event({"id": "c", "object": "chat.completion.chunk", "choices": [],
               "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}})
DONE = b"data: [DONE]\n\n"


async def _source(chunks: list[bytes], closed: list[bool]) -> AsyncIterator[bytes]:
    try:
        for chunk in chunks:
            yield chunk
    finally:
        closed.append(True)


def relayed(chunks: list[bytes]) -> list[bytes]:
    closed: list[bool] = []

    async def run() -> list[bytes]:
        return [c async for c in without_usage_event(_source(chunks, closed))]

    out = asyncio.run(run())
    assert closed == [True]
    return out


def test_the_usage_only_chunk_is_dropped_and_everything_else_goes_on_as_it_came() -> None:
    assert relayed([CHUNK, KEEPALIVE, CHUNK, LAST, USAGE, DONE]) == [
        CHUNK, KEEPALIVE, CHUNK, LAST, DONE]
    assert relayed([CHUNK + LAST + USAGE + DONE]) == [CHUNK + LAST + DONE]


def test_an_event_split_across_chunks_waits_for_its_rest_only() -> None:
    whole = CHUNK + LAST + USAGE + DONE
    for cut in range(1, len(whole)):  # every place a chunk boundary can fall
        out = relayed([whole[:cut], whole[cut:]])
        assert b"".join(out) == CHUNK + LAST + DONE, cut
    # a chunk of whole events is passed on at once, before the next chunk exists
    assert relayed([CHUNK, USAGE[:10], USAGE[10:] + DONE])[0] == CHUNK


def test_crlf_events_and_usage_on_a_content_chunk_are_understood() -> None:
    crlf = USAGE.replace(b"\n\n", b"\r\n\r\n")
    assert relayed([CHUNK, crlf, DONE]) == [CHUNK, DONE]
    # some upstreams put the usage on the last content chunk: that chunk is the client's
    with_content = event({"choices": [{"index": 0, "delta": {"content": "x"}}],
                          "usage": {"prompt_tokens": 1, "completion_tokens": 1}})
    assert relayed([with_content, DONE]) == [with_content, DONE]


def test_bytes_that_never_form_an_event_are_held_no_longer_than_the_bound() -> None:
    blob = b"x" * (MAX_HELD_BYTES + 1)
    assert relayed([b"x" * 10, blob]) == [b"x" * 10 + blob]
    assert relayed([b"tail without end"]) == [b"tail without end"]
