"""The HTTP server's hostile-input limits (SPEC §3), for `serve` and the Lambda stream mode.

uvicorn's httptools protocol bounds none of these (its `h11_max_incomplete_event_size` is for
h11 only, `limit_concurrency` answers 503 after accepting and parsing, and a connection that
never finishes its headers is never timed out), so `LimitedHttpToolsProtocol` adds them to it,
keeping uvicorn's parser, flow control and ASGI cycle (and its throughput, SPEC §10):

- the request head (request line + headers) is counted as it arrives; past
  `limits.max_header_bytes` the client gets 431 `request_headers_too_large` and the connection
  closes, so no more than the limit plus one socket read is ever buffered;
- a connection that has not sent a complete head within `limits.header_timeout_s` (from its
  first byte, or from the connection when it sends nothing), or whose body stalls for
  `limits.body_idle_timeout_s`, is closed;
- at most `limits.max_connections` connections are open; one more is closed at once;
- uvicorn's plain-text 400 for a request the parser refuses (Content-Length with
  Transfer-Encoding, bad bytes…) becomes a 400 in OpenAI's error shape.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from ..config.model import Limits


def error_bytes(status: int, message: str, code: str) -> bytes:
    """A whole HTTP/1.1 response carrying an OpenAI-shaped error, that closes the connection."""
    body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error",
                                   "param": None, "code": code}})
    return b"".join([
        STATUS_LINE[status],
        b"content-type: application/json\r\ncontent-length: ", str(len(body)).encode(),
        b"\r\nconnection: close\r\n\r\n", body,
    ])


#: How long a refused connection is still read (and dropped) before it closes.
LINGER_S = 2.0


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with SPEC §3's limits; build one with `protocol_for`.

    Cheap on the request path: a request that arrives whole costs a few attribute checks and
    no timer (timers are armed only while a head or a body is actually incomplete)."""

    max_header_bytes: ClassVar[int] = 65_536
    header_timeout_s: ClassVar[float] = 10.0
    body_idle_timeout_s: ClassVar[float] = 30.0
    max_connections: ClassVar[int] = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused = False  # over the connection cap: never served
        self._draining = False  # answered 431/400 and closing: what arrives is dropped
        self._in_head = True  # the next bytes belong to a request head
        self._begun = False  # ... and some of them have come
        self._in_body = False  # headers done, body still arriving
        self._raw_head = 0  # bytes received while in a head: a bound on its size
        self._timer: asyncio.TimerHandle | None = None
        self._body_at = 0.0  # loop time of the last body bytes

    # -- connections ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self._refused = True
            transport.close()
            return
        super().connection_made(transport)
        self._arm(self.header_timeout_s, self._head_timed_out)  # a client that sends nothing

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, delay: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _refuse(self, status: int, message: str, code: str) -> None:
        """Answer, then linger: read and drop what the client is still sending for a moment
        before closing (nginx's lingering close), so the answer is not lost to a TCP reset."""
        self._disarm()
        if self._draining or self.transport.is_closing():
            return
        self._draining = True
        self.transport.write(error_bytes(status, message, code))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._timer = self.loop.call_later(LINGER_S, self.transport.close)

    # -- bytes in ------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._draining or self.transport.is_closing():
            return  # refused: nothing more is parsed or buffered
        if self._in_head:
            self._raw_head += len(data)
        super().data_received(data)
        if self._in_head:
            if self._raw_head > self.max_header_bytes:
                self._too_large()  # the parser holds at most the limit plus this one read
            elif self._begun and self._timer is None:
                self._arm(self.header_timeout_s, self._head_timed_out)
        elif self._in_body:
            self._body_at = self.loop.time()
            if self._timer is None:
                self._arm(self.body_idle_timeout_s, self._body_timed_out)

    def _too_large(self) -> None:
        self._refuse(431, f"The request headers are over the {self.max_header_bytes}-byte "
                     "limit.", "request_headers_too_large")

    def _head_timed_out(self) -> None:
        self._timer = None
        if self._in_head and not self.transport.is_closing():
            self.transport.close()  # a slow or silent client: no answer owed

    def _body_timed_out(self) -> None:
        self._timer = None
        if not self._in_body or self.transport.is_closing():
            return
        idle = self.loop.time() - self._body_at
        if self.flow.read_paused or idle < self.body_idle_timeout_s:
            # our own backpressure (the app is not reading) is not the client stalling
            self._arm(max(self.body_idle_timeout_s - idle, 0.01), self._body_timed_out)
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()

    # -- parser callbacks ----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._begun = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._disarm()  # the head timer
        self._in_head = False
        # `_raw_head` bounds the head's size: count it exactly only when that bound is over
        if self._raw_head > self.max_header_bytes and self._head_bytes() > self.max_header_bytes:
            self._too_large()
            return
        self._in_body = True
        super().on_headers_complete()

    def _head_bytes(self) -> int:
        return len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)

    def on_body(self, body: bytes) -> None:
        if not self._draining:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._draining:
            return
        if self._in_body:
            self._disarm()  # the body timer
        self._in_head, self._begun, self._in_body, self._raw_head = True, False, False, 0
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """A request the parser refuses gets OpenAI's error shape, not uvicorn's plain text."""
        self._refuse(400, "The request is not valid HTTP/1.1.", "invalid_http_request")


def protocol_for(limits: Limits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class for uvicorn's `http=`, with these limits."""
    return type("EdgeHttpToolsProtocol", (LimitedHttpToolsProtocol,), {
        "max_header_bytes": limits.max_header_bytes,
        "header_timeout_s": limits.header_timeout_s,
        "body_idle_timeout_s": limits.body_idle_timeout_s,
        "max_connections": limits.max_connections,
    })


def server_options(limits: Limits) -> dict[str, Any]:
    """`uvicorn.Config` keywords carrying these limits: the protocol above, and `X-Forwarded-*`
    believed only from the peers `limits.forwarded_allow_ips` names (uvicorn's default trusts
    loopback, which under the Lambda web adapter, or behind any local proxy, is everyone)."""
    trusted = list(limits.forwarded_allow_ips)
    return {
        "http": protocol_for(limits),
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
    }
