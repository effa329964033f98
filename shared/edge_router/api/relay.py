"""`RelayResponse`: a streamed upstream answer on its way to the client, stopped as soon as the
client goes away (SPEC §11: tokens cost money).

Starlette's `StreamingResponse` stops a stream by cancelling it from a task that waits for
`http.disconnect`; that cancellation only lands when the stream task waits on something. An
upstream writing as fast as it can never makes it wait (its chunks are always buffered, and a
server's `send` to a client that left returns at once), so the stream was read to its end and
thrown away. Here the disconnect only sets a flag, and the relay checks it before each chunk:
the stream is closed (and with it the upstream connection) at the next chunk, whatever the pace.
A server on ASGI spec 2.4 raises `OSError` from `send` instead: the same.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class RelayResponse(StreamingResponse):
    """Relays `stream` chunk by chunk; closes it when the client leaves. Only `__call__` differs
    from `StreamingResponse` (a route may return it like any response)."""

    def __init__(
        self, stream: AsyncIterator[bytes], *, status_code: int, headers: list[tuple[str, str]]
    ) -> None:
        super().__init__(stream, status_code=status_code, headers=dict(headers))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True

        watcher = asyncio.create_task(watch())
        try:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            async for chunk in self.body_iterator:
                if gone:
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except OSError:  # ASGI 2.4: the client went away
            gone = True
        finally:
            watcher.cancel()
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()  # the relay's `finally` closes the upstream response
        # The last message even to a client that left (a server drops it): the outer layers
        # record the request when they see it.
        with contextlib.suppress(OSError):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
