"""`[DONE]` ends an OpenAI stream (SPEC §5): found at a line start, even split across chunks,
never inside an event's JSON."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from edge_router.api.dialects import OPENAI
from edge_router.reply import done_end, relay_stream


def test_done_at_the_start_of_the_first_chunk_and_after_a_newline() -> None:
    assert done_end(b"", b"data: [DONE]\n\nmore") == len(b"data: [DONE]\n\n")
    assert done_end(b"", b"data:[DONE]") == len(b"data:[DONE]")
    chunk = b'data: {"a":1}\n\ndata: [DONE]\n\ndata: junk\n\n'
    assert chunk[: done_end(b"", chunk)] == b'data: {"a":1}\n\ndata: [DONE]\n\n'
    assert done_end(b"", b"data: [DONE]\r\n\r\n") == len(b"data: [DONE]")  # caller adds \n\n


@pytest.mark.parametrize("chunk", [
    b'data: {"content":"data: [DONE]"}\n\n',  # inside the JSON of an event
    b'data: {"content":"E]"}\n\n',
    b"data: [DONE",
    b'data: {"choices":[]}\n\n',
])
def test_no_done_where_there_is_none(chunk: bytes) -> None:
    assert done_end(b"", chunk) == -1
    assert done_end(b"xx\n\n", chunk[6:]) == -1


async def _relay(*chunks: bytes) -> tuple[bytes, bytes, list[str | None]]:
    ended: list[str | None] = []
    tails: list[bytes] = []

    async def rest() -> AsyncIterator[bytes]:
        for chunk in chunks[1:]:
            await asyncio.sleep(0)
            yield chunk

    def on_end(failure: str | None, head: bytes, tail: bytes) -> None:
        ended.append(failure)
        tails.append(tail)

    out = b"".join([c async for c in relay_stream(chunks[0], rest(), on_end=on_end,
                                                  error_event=OPENAI.stream_error)])
    return out, tails[0], ended


async def test_relay_stops_at_done_and_its_tail_has_nothing_after_it() -> None:
    out, tail, ended = await _relay(b'data: {"a":1}\n\ndata: [DO', b"NE]\n\ndata: {\"usage\":{}}\n\n",
                                    b"data: more\n\n")
    assert out == b'data: {"a":1}\n\ndata: [DONE]\n\n'
    assert tail == out
    assert ended == [None]


async def test_a_marker_split_anywhere_across_chunks_ends_the_stream_there() -> None:
    stream = b'data: {"a":1}\n\ndata: [DONE]\n\n'
    for cut in range(1, len(stream)):
        out, _, ended = await _relay(stream[:cut], stream[cut:] + b"data: junk\n\n")
        assert out == stream, cut
        assert ended == [None]
