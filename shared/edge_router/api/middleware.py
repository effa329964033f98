"""The outermost ASGI layer: request id, the `x-edge-*` headers on every response, the one
catch-all for bugs (a 500 in OpenAI's shape, logged with the request id), and the per-request
metric record once the last body byte is sent.

Pure ASGI rather than Starlette's BaseHTTPMiddleware: it adds no task or copy per request.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from urllib.parse import quote

import orjson
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..context import RequestContext
from ..errors import RequestTooLarge, RouterError
from ..observability import RequestRecord, error_class_for
from ..pricing import format_usd
from ..redaction import default_redactor
from ..wire import Wire
from . import proxy
from .deps import Deps
from .dialects import OPENAI, Endpoint, match, wire_for_path

log = logging.getLogger(__name__)

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,128}$")
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")
CONTEXT_KEY = "edge.ctx"


def header_safe(text: str) -> bytes:
    """`text` as a header value: printable ASCII as is, anything else percent-encoded (UTF-8).
    A model name is the client's text: a control character in a header would make the HTTP
    server drop the connection instead of answering."""
    if text.isascii() and text.isprintable():
        return text.encode("ascii")
    return quote(text, safe=_HEADER_SAFE).encode("ascii")


def new_request_id() -> str:
    return "req_" + os.urandom(12).hex()


def error_response(error: RouterError, wire: Wire = OPENAI) -> Response:
    """A router error as an HTTP response in the shape of the client's API (credentials
    masked, §7: a message may quote the client's path or model)."""
    body = wire.error_body(error)
    body["error"]["message"] = default_redactor(body["error"]["message"])
    return Response(
        orjson.dumps(body),
        status_code=error.status_code,
        headers=error.headers(),
        media_type="application/json",
    )


def _body_reader(receive: Receive) -> proxy.BodyReader:
    async def read(limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestTooLarge(f"The request body is over the {limit}-byte limit.")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    return read


def _client_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value.decode("ascii") if _REQUEST_ID.match(value) else None
    return None


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        deps: Deps,
        on_done: Callable[[RequestContext], None] | None = None,
    ) -> None:
        self.app = app
        self.deps = deps
        self.region = deps.config.region.encode()
        self.clock = deps.clock
        self.metrics = deps.metrics
        self.on_done = on_done
        self.limiter = deps.limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx = RequestContext(_client_request_id(scope) or new_request_id(), self.clock.monotonic())
        scope[CONTEXT_KEY] = ctx
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                ctx.status = message["status"]
                headers = message.get("headers", ())
                if ctx.rate_headers is not None:  # a limited key: its limits, not the upstream's
                    headers = [h for h in headers if not h[0].startswith(b"x-ratelimit-")]
                message["headers"] = [*headers, *self._edge_headers(ctx)]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                await send(message)
                self._finish(scope, ctx)
                return
            await send(message)

        try:
            # The proxied operations skip the framework's per-request layers (api/proxy.py).
            endpoint = match(scope["method"], scope["path"])
            if endpoint is None:
                await self.app(scope, receive, send_with_headers)
            else:
                await self._proxy(endpoint, ctx, scope, receive, send_with_headers)
        except Exception:  # the one outermost catch-all: log it, answer a generic 500
            log.exception("internal error (request id %s)", ctx.request_id)
            ctx.error_class = "internal"
            if not started:
                error = RouterError()
                await send_with_headers({
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                })
                await send_with_headers({
                    "type": "http.response.body",
                    "body": orjson.dumps(wire_for_path(scope["path"]).error_body(error)),
                })
        finally:
            if ctx.admitted and self.limiter is not None:  # e.g. the client went away mid-stream
                self.limiter.account(ctx)

    async def _proxy(
        self, endpoint: Endpoint, ctx: RequestContext, scope: Scope, receive: Receive,
        send: Send,
    ) -> None:
        response: Response
        try:
            reply = await proxy.handle(self.deps, ctx, endpoint, scope["headers"],
                                       _body_reader(receive), scope.get("query_string", b""))
            response = proxy.to_response(reply)
        except RouterError as exc:
            response = error_response(exc, endpoint.wire)
        except ClientDisconnect:
            return
        await response(scope, receive, send)

    def _edge_headers(self, ctx: RequestContext) -> list[tuple[bytes, bytes]]:
        overhead_ms = (self.clock.monotonic() - ctx.started - ctx.waited_s - ctx.upload_s) * 1000.0
        headers = [
            (b"x-edge-region", self.region),
            (b"x-request-id", ctx.request_id.encode()),
            (b"x-edge-attempts", str(ctx.attempts).encode()),
            (b"x-edge-overhead-ms", f"{max(overhead_ms, 0.0):.3f}".encode()),
        ]
        if ctx.upstream is not None:
            headers.append((b"x-edge-upstream", ctx.upstream.encode()))
            if ctx.answered_model is not None:
                headers.append((b"x-edge-model", header_safe(ctx.answered_model)))
        if ctx.cost_header and ctx.cost_usd is not None:
            headers.append((b"x-edge-cost-usd", format_usd(ctx.cost_usd).encode()))
        if ctx.rate_headers:
            headers += ctx.rate_headers
        return headers

    def _finish(self, scope: Scope, ctx: RequestContext) -> None:
        if not scope["path"].startswith("/v1/"):
            return
        latency_ms = (self.clock.monotonic() - ctx.started) * 1000.0
        record = RequestRecord(
            status=ctx.status,
            model=ctx.model,
            upstream=ctx.upstream,
            latency_ms=latency_ms,
            upstream_ms=ctx.waited_s * 1000.0,
            overhead_ms=max(latency_ms - (ctx.waited_s + ctx.upload_s) * 1000.0, 0.0),
            ttfb_ms=ctx.ttfb_ms,
            attempts=ctx.attempts,
            error_class=ctx.error_class or error_class_for(ctx.status),
            prompt_tokens=ctx.prompt_tokens,
            completion_tokens=ctx.completion_tokens,
            cost_usd=ctx.cost_usd,
        )
        self.metrics.request(record)
        if ctx.admitted and self.limiter is not None:
            self.limiter.account(ctx)
        if self.on_done is not None:
            self.on_done(ctx)
