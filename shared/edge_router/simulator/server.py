"""`Simulator`: N fake OpenAI-compatible upstreams in one process, each on its own port.

Each upstream is a low-level `aiohttp.web.Server` (no router, no middleware: the happy path is
a read, a dict lookup, an orjson dump) behind its own runner and TCP site, so `refuse` can stop
one listener and `ok` can re-open it on the same port.

    async with Simulator(3, profile="fast") as sim:
        base_url = sim.url("ap-northeast")        # http://127.0.0.1:PORT/v1
        await sim.set_fault("us-west", "status:503,count=2")
        sim.state("us-west")["requests"]

With `control_port` (0 = a free one) the `/_sim` control API also listens on a port of its own
(plain HTTP), which stays up whatever the upstreams' faults (`refuse` closes an upstream's port,
and with it that port's `/_sim`).

With `tls=True` every upstream serves HTTPS with a self-signed certificate made at start
(`simulator/tls.py`): URLs start with https://, and a verifying client refuses the connection.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from .config_writer import write_config
from .control import handle_control
from .delivery import abort, deliver, park
from .endpoints import answer
from .faults import ActiveFault, Fault, parse_fault
from .runtime import UpstreamRuntime
from .upstreams import Profile, UpstreamSpec, default_specs, latency_range_ms

__all__ = ["Simulator"]

_SHUTDOWN_TIMEOUT_S = 0.25


class Simulator:
    """Fake upstreams on `host`, ports `base_port + i` (or free ports when `base_port` is 0)."""

    def __init__(
        self,
        specs: Sequence[UpstreamSpec] | int = 5,
        *,
        host: str = "127.0.0.1",
        base_port: int = 0,
        profile: Profile = "fast",
        seed: int = 0,
        require_key: str | None = None,
        log_size: int = 256,
        tls: bool = False,
        control_port: int | None = None,
    ) -> None:
        specs = default_specs(specs) if isinstance(specs, int) else list(specs)
        if not specs:
            raise ValueError("at least one upstream is required")
        ids = [s.id for s in specs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate upstream ids: {ids}")
        if profile not in ("seed", "fast"):
            raise ValueError(f"profile must be 'seed' or 'fast', got {profile!r}")
        self.host = host
        self.base_port = base_port
        self.require_key = require_key
        self.tls = tls
        self._ssl_context: ssl.SSLContext | None = None
        created = int(time.time())
        self._upstreams = {
            s.id: UpstreamRuntime(
                s,
                latency_ms=latency_range_ms(s, profile),
                seed=seed,
                log_size=log_size,
                created=created,
            )
            for s in specs
        }
        self._runners: dict[str, web.ServerRunner] = {}
        self._sites: dict[str, web.TCPSite] = {}
        self._closing = asyncio.Event()
        self._control_port = control_port
        self._control_runner: web.ServerRunner | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> Simulator:
        if self.tls and self._ssl_context is None:
            from .tls import self_signed_context  # only now: normal runs never import it

            self._ssl_context = self_signed_context()
        try:
            for index, up in enumerate(self._upstreams.values()):
                server = web.Server(
                    functools.partial(self._handle, up), handler_cancellation=True, access_log=None
                )
                runner = web.ServerRunner(server, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
                await runner.setup()
                self._runners[up.id] = runner
                await self._listen(up, self.base_port + index if self.base_port else 0)
                up.port = runner.addresses[0][1]
            for up in self._upstreams.values():
                if up.active.fault.mode == "refuse":
                    await self._stop_listening(up)
            if self._control_port is not None:
                await self._start_control(self._control_port)
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        """Stop every listener, abort parked requests, close every connection."""
        self._closing.set()
        if self._control_runner is not None:
            await self._control_runner.cleanup()
            self._control_runner = None
        for runner in self._runners.values():
            if runner.server is not None:
                for connection in runner.server.connections:
                    connection.force_close()
            await runner.cleanup()
        self._runners.clear()
        self._sites.clear()

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _start_control(self, port: int) -> None:
        async def serve(request: web.BaseRequest) -> web.StreamResponse:
            return await handle_control(self, None, request)

        server = web.Server(serve, access_log=None)
        self._control_runner = web.ServerRunner(server, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
        await self._control_runner.setup()
        site = web.TCPSite(self._control_runner, self.host, port, reuse_address=True)
        await site.start()
        self._control_port = self._control_runner.addresses[0][1]

    async def _listen(self, up: UpstreamRuntime, port: int) -> None:
        site = web.TCPSite(
            self._runners[up.id], self.host, port, reuse_address=True,
            ssl_context=self._ssl_context,
        )
        await site.start()
        self._sites[up.id] = site
        up.refused = False

    async def _stop_listening(self, up: UpstreamRuntime) -> None:
        up.refused = True
        site = self._sites.pop(up.id, None)
        if site is not None:
            await site.stop()
        server = self._runners[up.id].server
        if server is not None:
            # Like a process that died: every connection, idle or busy, is torn down (RST), so
            # a client's pooled keep-alive connection fails at once instead of hanging.
            for connection in list(server.connections):
                transport = connection.transport
                if transport is not None:
                    transport.abort()
                else:
                    connection.close()
        for _ in range(3):
            await asyncio.sleep(0)  # let the idle ones send their FIN before we report back

    # -- the API for tests and the CLI ---------------------------------------------------------

    @property
    def ids(self) -> list[str]:
        return list(self._upstreams)

    def _get(self, upstream_id: str) -> UpstreamRuntime:
        try:
            return self._upstreams[upstream_id]
        except KeyError:
            raise KeyError(
                f"unknown upstream {upstream_id!r}; simulated: {', '.join(self.ids)}"
            ) from None

    def port(self, upstream_id: str) -> int:
        return self._get(upstream_id).port

    def url(self, upstream_id: str) -> str:
        """The OpenAI base URL of one upstream, ending in ``/v1``."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        host = f"[{host}]" if ":" in host else host
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port(upstream_id)}/v1"

    def control_url(self, upstream_id: str | None = None) -> str:
        """The `/_sim` base URL: of the control port (no argument), or of one upstream's port."""
        if upstream_id is not None:
            return self.url(upstream_id).removesuffix("/v1") + "/_sim"
        if self._control_runner is None or self._control_port is None:
            raise RuntimeError("the simulator was not started with a control port")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._control_port}/_sim"

    async def set_fault(self, upstream_id: str, spec: str | Fault) -> dict[str, Any]:
        """Give an upstream a new fault (a spec string or a parsed `Fault`); returns its state."""
        up = self._get(upstream_id)
        fault = parse_fault(spec) if isinstance(spec, str) else spec
        up.active = ActiveFault.of(fault)
        if self._runners:
            if fault.mode == "refuse" and not up.refused:
                await self._stop_listening(up)
            elif fault.mode != "refuse" and up.refused:
                await self._listen(up, up.port)
        return up.state()

    async def reset(self, upstream_id: str | None = None) -> None:
        """Clear counters, request log and fault of one upstream (or of every one)."""
        for up in [self._get(upstream_id)] if upstream_id else self._upstreams.values():
            up.reset_counters()
            await self.set_fault(up.id, "ok")

    def state(self, upstream_id: str) -> dict[str, Any]:
        return self._get(upstream_id).state()

    def requests(self, upstream_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        return self._get(upstream_id).recent(limit)

    def write_config(self, path: str | Path) -> dict[str, Any]:
        """Write a router YAML config pointing at these upstreams; returns what was written."""
        return write_config(path, [(i, self.url(i)) for i in self.ids])

    # -- one request -------------------------------------------------------------------------

    async def _handle(self, up: UpstreamRuntime, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_sim/"):
            return await handle_control(self, up.id, request)
        body = await request.content.read()  # no size limit: the router enforces its own
        rid = up.next_request_id()
        fault = up.take_fault() if path.startswith("/v1/") else None
        up.record(request.method, request.path_qs, request.headers, body, rid, fault)
        if up.refused or (fault is not None and fault.mode == "reset"):
            return abort(request, reset=True)
        if fault is not None and fault.mode == "hang":
            return await park(request, self._closing)
        wait = up.wait_s(fault)
        if wait > 0:
            await asyncio.sleep(wait)
        reply = answer(
            request.method,
            path,
            body,
            upstream_id=up.id,
            models_body=up.models_body,
            authorization=request.headers.get("Authorization"),
            require_key=self.require_key,
            rid=rid,
            created=int(time.time()),
            api_key=request.headers.get("x-api-key"),
            models=up.spec.models,
            store=up.stored,
        )
        return await deliver(
            request, reply, fault, upstream_id=up.id, rid=rid, closing=self._closing
        )
