"""An OpenAI-compatible upstream that streams chat tokens on a schedule, on a thread of its own.

For the streaming tests and the time-to-first-token bench: `TokenUpstream(gaps=[...])` answers a
streamed chat completion with one `chat.completion.chunk` event per entry of `gaps`, each sent
after that many seconds of silence, then `data: [DONE]`; `gaps=None` streams chunks as fast as
the socket takes them, without end, until the reader goes away. A request without `"stream":
true` gets one whole `chat.completion` at once. Every request is recorded: when
it arrived, when its first chunk was written, how many chunks went out, and when the server saw
the connection close (a write failed or the peer's FIN arrived).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import orjson
from aiohttp import web


def chunk_event(index: int, *, finish: bool = False) -> bytes:
    body = {
        "id": "chatcmpl-tokens", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4.1",
        "choices": [{"index": 0, "delta": {} if finish else {"content": f"tok{index} "},
                     "finish_reason": "stop" if finish else None}],
    }  # fmt: skip
    return b"data: " + orjson.dumps(body) + b"\n\n"


DONE = b"data: [DONE]\n\n"
T = TypeVar("T")


@dataclass
class Served:
    """One request as the upstream saw it (times from `time.monotonic()`)."""

    arrived: float
    first_write: float | None = None
    chunks: int = 0
    closed: float | None = None
    done: threading.Event = field(default_factory=threading.Event)


class TokenUpstream:
    """`with TokenUpstream(gaps=[0.0, 0.2, 0.2]) as up:` ... `up.base_url` is `http://…/v1`."""

    def __init__(
        self, gaps: Sequence[float] | None = (0.0,), *, chunk_bytes: int = 0, port: int = 0
    ) -> None:
        self.gaps = None if gaps is None else list(gaps)
        self.padding = b" " * chunk_bytes  # JSON whitespace: a bigger chunk, the same event
        self.served: list[Served] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def call(self, awaitable: Awaitable[T]) -> T:
        """Run `awaitable` on the upstream's loop (e.g. start a proxy that lives there)."""

        async def wrapped() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result(10)

    def __enter__(self) -> TokenUpstream:
        self._thread.start()
        self.call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "gpt-4.1", "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        served = Served(time.monotonic())
        self.served.append(served)
        body = orjson.loads(await request.read())
        if not body.get("stream"):  # a whole answer: the tokens at once
            served.first_write, served.chunks = time.monotonic(), 1
            served.done.set()
            return web.json_response({
                "id": "chatcmpl-tokens", "object": "chat.completion", "created": 1,
                "model": "gpt-4.1", "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "tok0"}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
            })  # fmt: skip
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        transport = request.transport
        try:
            index = 0
            while self.gaps is None or index < len(self.gaps):
                if self.gaps is not None and self.gaps[index] > 0:
                    await asyncio.sleep(self.gaps[index])
                if transport is None or transport.is_closing():
                    raise ConnectionResetError("the reader went away")
                await response.write(chunk_event(index)[:-2] + self.padding + b"\n\n")
                if served.first_write is None:
                    served.first_write = time.monotonic()
                served.chunks += 1
                index += 1
                if self.gaps is None and index % 64 == 0:
                    await asyncio.sleep(0)  # let the FIN of a reader that left be seen
            await response.write(chunk_event(index, finish=True) + DONE)
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            served.closed = time.monotonic()
        finally:
            served.done.set()
        return response
