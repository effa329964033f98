"""A tiny fake of upstream `/v1/models` endpoints on 127.0.0.1, run on its own thread.

Its own thread and event loop, so that both async tests (on pytest's loop) and the CLI (which
calls `asyncio.run`) can talk to it. Each behaviour lives under a path prefix, used as the
upstream's `base_url`: `{url}/healthy/v1`, `{url}/broken/v1` (503), `{url}/denied/v1` (401),
`{url}/slow/v1` (answers after `slow_s`, 30 s: far past any probe timeout of the tests),
`{url}/busy/<n>/v1` (200 after 50 ms, counting requests in flight; until `busy_gate` have
been in flight together, each first waits for that, 1 s at most, so that a busy machine still
shows the overlap a concurrency allows). `closed_url` is a port nobody listens on.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from aiohttp import web


class FakeUpstreams:
    def __init__(self) -> None:
        self.authorizations: list[str | None] = []
        self.in_flight: dict[str, int] = {}
        self.max_in_flight_total = 0
        self.max_in_flight_per_upstream = 0
        self.busy_gate = 1
        self.slow_s = 30.0
        self.url = ""
        self.closed_url = ""
        self._loop = asyncio.new_event_loop()
        self._release: asyncio.Event | None = None

    def reset(self) -> None:
        self.authorizations.clear()
        self.in_flight.clear()
        self.max_in_flight_total = self.max_in_flight_per_upstream = 0
        self.busy_gate = 1

    async def _healthy(self, request: web.Request) -> web.Response:
        self.authorizations.append(request.headers.get("Authorization"))
        return web.json_response({"object": "list", "data": [{"id": "gpt-4.1"}]})

    async def _broken(self, request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "down"}}, status=503)

    async def _denied(self, request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "bad key"}}, status=401)

    async def _slow(self, request: web.Request) -> web.Response:
        assert self._release is not None
        with suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), self.slow_s)
        return web.json_response({"object": "list", "data": []})

    async def _busy(self, request: web.Request) -> web.Response:
        name = request.match_info["n"]
        self.in_flight[name] = self.in_flight.get(name, 0) + 1
        self.max_in_flight_per_upstream = max(self.max_in_flight_per_upstream, self.in_flight[name])
        self.max_in_flight_total = max(self.max_in_flight_total, sum(self.in_flight.values()))
        try:
            for _ in range(100):
                if self.max_in_flight_total >= self.busy_gate:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
        finally:
            self.in_flight[name] -= 1
        return web.json_response({"object": "list", "data": []})

    async def _start(self) -> web.AppRunner:
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_get("/healthy/v1/models", self._healthy)
        app.router.add_get("/broken/v1/models", self._broken)
        app.router.add_get("/denied/v1/models", self._denied)
        app.router.add_get("/slow/v1/models", self._slow)
        app.router.add_get("/busy/{n}/v1/models", self._busy)
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return runner

    @contextmanager
    def running(self) -> Iterator[FakeUpstreams]:
        thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        thread.start()
        runner = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(5)
        self.closed_url = f"http://127.0.0.1:{_free_port()}/v1"
        try:
            yield self
        finally:
            assert self._release is not None
            self._loop.call_soon_threadsafe(self._release.set)
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(5)
            self._loop.close()


def _free_port() -> int:
    """A port that was free a moment ago and that nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
