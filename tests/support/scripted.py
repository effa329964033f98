"""A scripted upstream for hostile-answer tests: one real aiohttp server on a free port whose
answer each test writes as a handler, with several upstreams told apart by path prefix
(`http://127.0.0.1:P/<id>/v1`). The simulator covers the ordinary faults; this covers answers
no well-behaved upstream gives (HTML 4xx pages, absurd `retry-after`, bytes after `[DONE]`,
gzip bombs)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

from edge_router.api.app import create_app
from edge_router.api.deps import Deps
from edge_router.build import build_deps
from edge_router.config import build_config

Handler = Callable[[str, web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Scripted:
    port: int
    ids: tuple[str, ...]
    handler: Handler | None = None
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, upstream_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/{upstream_id}/v1"

    def config(self, **sections: Any) -> dict[str, Any]:
        """A router config over these upstreams, failover in the given order."""
        raw: dict[str, Any] = {
            "upstreams": [{"id": i, "base_url": self.url(i)} for i in self.ids],
            "home": {},
            "routing": {"connect_timeout_s": 0.5, "first_byte_timeout_s": 1.0,
                        "deadline_s": 5.0, "backoff_base_s": 0.0, "backoff_cap_s": 0.0},
        }
        for key, value in sections.items():
            raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
        return raw

    def calls(self, upstream_id: str | None = None) -> int:
        return sum(1 for i, _ in self.seen if upstream_id in (None, i))


@asynccontextmanager
async def scripted(*ids: str) -> AsyncIterator[Scripted]:
    state = Scripted(0, ids)

    async def entry(request: web.Request) -> web.StreamResponse:
        upstream_id = request.match_info["upstream"]
        state.seen.append((upstream_id, dict(request.headers)))
        await request.read()
        assert state.handler is not None, "set Scripted.handler first"
        return await state.handler(upstream_id, request)

    app = web.Application()
    app.router.add_route("*", "/{upstream}/v1/{tail:.*}", entry)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    state.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield state
    finally:
        await runner.cleanup()


def json_answer(status: int, body: bytes, **headers: str) -> web.Response:
    return web.Response(status=status, body=body, content_type="application/json",
                        headers=headers)


CHAT_OK = (b'{"id":"c","object":"chat.completion","model":"gpt-4.1","choices":[{"index":0,'
           b'"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],'
           b'"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}')


@asynccontextmanager
async def router(up: Scripted, **sections: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Deps]]:
    """The real app in process (over ASGI) in front of `up`."""
    import random

    deps = build_deps(build_config(up.config(**sections)), rng=random.Random(0))
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        try:
            yield client, deps
        finally:
            await deps.service.client.close()
