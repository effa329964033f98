"""What goes back to the client from an upstream answer: the header filter and the stream relay."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import orjson
from multidict import CIMultiDictProxy

from .upstream.errors import AttemptError

_PASS_PREFIXES = ("x-ratelimit-", "openai-")
_PASS_NAMES = frozenset({"content-type", "retry-after", "retry-after-ms"})


def response_headers(upstream: CIMultiDictProxy[str]) -> list[tuple[str, str]]:
    """The upstream headers a client sees (SPEC §3); `x-request-id` comes back renamed."""
    out: list[tuple[str, str]] = []
    for name, value in upstream.items():
        lower = name.lower()
        if lower in _PASS_NAMES or lower.startswith(_PASS_PREFIXES):
            out.append((lower, value))
        elif lower == "x-request-id":
            out.append(("x-upstream-request-id", value))
    return out


#: SSE comment sent after `routing.stream_keepalive_s` of upstream silence (SPEC §11): clients
#: ignore it; it keeps idle timeouts between them and the router (API Gateway's) from firing.
KEEPALIVE = b": keep-alive\n\n"


@dataclass(slots=True)
class Reply:
    """An upstream answer ready for the client: a whole body, or a stream."""

    status: int
    headers: list[tuple[str, str]]
    upstream: str
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None


#: How much of a stream's start and end is kept for its usage (Anthropic's input tokens come
#: first, in `message_start`; everyone's output tokens come last).
HEAD_BYTES = 8192
TAIL_BYTES = 8192


#: `data: [DONE]` (or `data:[DONE]`) at the start of a line ends an OpenAI stream (SPEC §5).
_DONE_LINE = re.compile(rb"\ndata: ?\[DONE\]")
_DONE_FIRST = re.compile(rb"data: ?\[DONE\]")
_DONE_CARRY = 16  # bytes of the previous chunk kept, so a marker split across chunks is found


def done_end(carry: bytes, chunk: bytes) -> int:
    """Where in `chunk` the stream's `[DONE]` event ends (its blank line included when it is
    there), or -1. `carry` is the end of what came before (b"" for the stream's first chunk)."""
    if b"E]" not in chunk and not (carry.endswith(b"E") and chunk.startswith(b"]")):
        return -1  # the cheap test, true of almost every chunk
    window = carry + chunk
    match = _DONE_LINE.search(window)
    if match is None and not carry:
        match = _DONE_FIRST.match(window)
    if match is None:
        return -1
    end = match.end() - len(carry)
    blank = chunk.find(b"\n\n", end)
    return blank + 2 if blank != -1 and not chunk[end:blank].strip() else end


async def relay_stream(
    first: bytes,
    rest: AsyncIterator[bytes],
    *,
    on_end: Callable[[str | None, bytes, bytes], Awaitable[None] | None],
    error_event: Callable[[str, str], bytes],
) -> AsyncIterator[bytes]:
    """Yield the first chunk, then the rest, up to and including `data: [DONE]`: nothing after
    it is relayed or read for usage, and the upstream is not read further (a close right
    after it is a normal end). A failure before it ends the stream with one error event in the
    client's API (`error_event(message, code)`, code `stream_interrupted`) and no end-of-stream
    marker (it is never replayed). `on_end` gets the failure (or None) and the stream's first
    and last bytes, for its usage. (Responses and Messages streams have no `[DONE]`: they end
    when the upstream closes, after `response.completed` / `message_stop`.)"""
    failure: str | None = None
    head = first[:HEAD_BYTES]
    tail = b""
    carry = b""
    try:
        chunk = first
        iterator = aiter(rest)
        while True:
            end = done_end(carry, chunk)
            if end != -1:
                done = chunk[:end] if chunk[end - 2:end] == b"\n\n" else chunk[:end] + b"\n\n"
                tail = (tail + done)[-TAIL_BYTES:]
                yield done
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None:  # stop reading the upstream now, not at GC time
                    await aclose()
                return
            if len(head) < HEAD_BYTES and chunk is not first:
                head = (head + chunk)[:HEAD_BYTES]
            tail = (tail + chunk)[-TAIL_BYTES:]
            carry = tail[-_DONE_CARRY:]
            yield chunk
            chunk = await anext(iterator, b"")
            if not chunk:
                return
    except AttemptError as exc:
        failure = str(exc)
        yield error_event(f"The upstream stream broke: {failure}", "stream_interrupted")
    except TimeoutError:
        failure = "deadline"
        yield error_event("The request deadline passed during the stream.", "deadline_exceeded")
    finally:
        result = on_end(failure, head, tail)
        if result is not None:
            await result


#: An SSE event ends at a blank line (LF or CRLF line ends).
_EVENT_END = re.compile(rb"\r?\n\r?\n")
_USAGE_NULL = re.compile(rb'"usage"\s*:\s*null')
#: An incomplete event held longer than this is passed on as it is (not an SSE stream after all).
MAX_HELD_BYTES = 65536


async def without_usage_event(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`stream` without the usage-only chunk (`"choices": []` and a `usage` object) of an
    OpenAI stream whose usage the router asked for on the client's behalf (SPEC §13): the client
    did not ask, and code reading `chunk.choices[0]` would break on it. Whole events go on as
    they arrive; only an event still incomplete at the end of a chunk waits for its rest."""
    held = b""
    try:
        async for chunk in stream:
            data = held + chunk if held else chunk
            cut = _after_last_blank_line(data)
            if cut == 0 and len(data) <= MAX_HELD_BYTES:
                held = data
                continue
            cut = cut or len(data)
            events, held = data[:cut], data[cut:]
            if b'"usage"' in events:
                events = _drop_usage_only(events)
            if events:
                yield events
        if held:
            yield held
    finally:  # closing this closes the relay now (its `on_end`), not when it is collected
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _after_last_blank_line(data: bytes) -> int:
    """Where the last complete event of `data` ends, or 0."""
    lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\n\r\n")
    return max(lf + 2 if lf != -1 else 0, crlf + 3 if crlf != -1 else 0)


def _drop_usage_only(events: bytes) -> bytes:
    kept: list[bytes] = []
    start = 0
    for end in _EVENT_END.finditer(events):
        event = events[start:end.end()]
        start = end.end()
        if not _usage_only(event):
            kept.append(event)
    kept.append(events[start:])
    return b"".join(kept)


def _usage_only(event: bytes) -> bool:
    if b'"usage"' not in event or _USAGE_NULL.search(event):
        return False
    data = b"".join(line[5:].lstrip() for line in event.splitlines() if line.startswith(b"data:"))
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return (isinstance(payload, dict) and payload.get("choices") == []
            and isinstance(payload.get("usage"), dict))
