"""The only HTTP-client code: one pooled aiohttp session that sends attempts to upstreams.

aiohttp is used directly because it is the stack that meets SPEC §10's throughput budget
(plain httpx reached ~620 req/s at 16 connections here, aiohttp ~4,500). Every aiohttp error is
translated into an `AttemptError` here and nowhere else.

Timeouts: `connect_timeout_s` bounds the connect; `idle_timeout_s` (the config's
`first_byte_timeout_s`) bounds the wait for the first byte and then each gap between chunks;
`deadline` (an absolute `loop.time()`) bounds the attempt as a whole, and when it is what
fires the attempt ends with `DeadlineCut` instead of a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import aiohttp
from multidict import CIMultiDictProxy

from .describe import plain
from .errors import AnswerTooLarge, ConnectFailed, ConnectionReset, DeadlineCut, FirstByteTimeout


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: CIMultiDictProxy[str]
    ttfb_s: float
    body: bytes = b""  # the whole body (non-streamed), or the first chunk (streamed)
    _response: aiohttp.ClientResponse | None = field(default=None, repr=False)

    async def chunks(
        self, idle_timeout_s: float, *, tick_s: float = 0.0, tick: bytes = b""
    ) -> AsyncIterator[bytes]:
        """The rest of a streamed body; raises `ConnectionReset` or `FirstByteTimeout` (no
        chunk for `idle_timeout_s`). With `tick_s` > 0, `tick` after each `tick_s` of silence,
        so the caller can keep its own client's connection alive meanwhile."""
        assert self._response is not None
        content = self._response.content
        loop = asyncio.get_running_loop()
        tick_s = tick_s if tick and 0 < tick_s < idle_timeout_s else idle_timeout_s
        try:
            while True:
                idle_end = loop.time() + idle_timeout_s
                chunk = None
                while chunk is None:
                    try:
                        async with asyncio.timeout_at(min(loop.time() + tick_s, idle_end)):
                            chunk = await content.readany()
                    except TimeoutError:
                        if loop.time() >= idle_end:
                            raise
                        yield tick  # silence: the caller's filler, not upstream data
                if not chunk:
                    return
                yield chunk
        except TimeoutError as exc:
            raise FirstByteTimeout("upstream stream stalled") from exc
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise ConnectionReset(f"stream broke: {plain(exc)}") from exc
        finally:
            self.close()

    def close(self) -> None:
        if self._response is not None:
            self._response.release()
            self._response = None


class UpstreamClient:
    """Sends one attempt at a time; build once per process (or Lambda container)."""

    def __init__(
        self,
        *,
        connect_timeout_s: float,
        idle_timeout_s: float,
        max_response_bytes: int = 64 * 1024 * 1024,
        limit: int = 1024,
        ssl: bool = True,
    ) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._idle_timeout_s = idle_timeout_s
        self._limit = limit
        self._ssl = ssl
        self.max_response_bytes = max_response_bytes
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(
                limit=self._limit, ttl_dns_cache=300, keepalive_timeout=30, ssl=self._ssl
            )
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=self._connect_timeout_s,
                sock_connect=self._connect_timeout_s,
                sock_read=self._idle_timeout_s,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
            )
            self._loop = loop
        return self._session

    async def send(
        self,
        url: str,
        *,
        method: str,
        body: bytes | None,
        headers: Mapping[str, str],
        stream: bool,
        deadline: float,
    ) -> UpstreamResponse:
        """One attempt; returns once the first body chunk (stream) or the whole body arrived."""
        loop = asyncio.get_running_loop()
        session = self._get_session()
        started = loop.time()
        response: aiohttp.ClientResponse | None = None
        try:
            async with asyncio.timeout_at(deadline) as scope:
                try:
                    response = await session.request(
                        method, url, data=body, headers=headers, allow_redirects=False
                    )
                    if stream:
                        first = await response.content.readany()
                    else:
                        first = await self._read_whole(response)
                except aiohttp.ServerTimeoutError as exc:
                    # connect timeouts are a subclass of the read timeout: order matters
                    if isinstance(exc, aiohttp.ConnectionTimeoutError):
                        raise ConnectFailed("connect timeout") from exc
                    raise FirstByteTimeout("no first byte within the timeout") from exc
                except aiohttp.ClientConnectorError as exc:
                    raise ConnectFailed(plain(exc)) from exc
                except (aiohttp.ClientError, ConnectionError) as exc:
                    raise ConnectionReset(f"connection broke: {plain(exc)}") from exc
        except TimeoutError as exc:
            if response is not None:
                response.release()
            if scope.expired():
                raise DeadlineCut(
                    "the request deadline passed", after_headers=response is not None
                ) from exc
            raise FirstByteTimeout("no first byte within the timeout") from exc
        except BaseException:
            if response is not None:
                response.release()
            raise
        ttfb = loop.time() - started
        if stream:
            return UpstreamResponse(response.status, response.headers, ttfb, first, response)
        response.release()
        return UpstreamResponse(response.status, response.headers, ttfb, first)

    async def _read_whole(self, response: aiohttp.ClientResponse) -> bytes:
        """The whole body, counted after decompression and refused past the limit (a 300 KB
        gzip body can inflate to 300 MB); aiohttp inflates in bounded pieces."""
        limit = self.max_response_bytes
        length = response.content_length
        if length is not None and length <= limit and "content-encoding" not in response.headers:
            return await response.read()  # the common case: the length is known and bounded
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise AnswerTooLarge(f"the answer is over the {limit}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
