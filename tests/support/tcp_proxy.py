"""A TCP forwarder that counts the connections it accepts: put it between a client and a server
to see, at the socket level, whether the client reuses its connections.

    proxy = await CountingProxy("127.0.0.1", upstream_port).start()
    ... point the client at 127.0.0.1:proxy.port ...
    assert proxy.accepted == 1
"""

from __future__ import annotations

import asyncio
import contextlib


class CountingProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.accepted = 0
        self.active = 0  # client connections open right now
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> CountingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.active += 1
        try:
            await self._forward(reader, writer)
        finally:
            self.active -= 1

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        pipes = [
            asyncio.ensure_future(self._pipe(reader, up_writer, to_upstream=True)),
            asyncio.ensure_future(self._pipe(up_reader, writer, to_upstream=False)),
        ]
        self._tasks.update(pipes)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for task in pipes:
            task.cancel()
        for w in (writer, up_writer):
            w.close()
            self._writers.discard(w)

    async def relay(self, data: bytes, *, to_upstream: bool) -> bool:
        """Called for every chunk before it is forwarded; False swallows it. Subclasses may
        delay here (a slow peer) or swallow (a peer that never answers)."""
        return True

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, to_upstream: bool
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if not await self.relay(data, to_upstream=to_upstream):
                    continue
                writer.write(data)
                await writer.drain()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            await self._server.wait_closed()
