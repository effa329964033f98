"""The router Lambda in `ResponseMode: stream` (SPEC §11): the app on the router's own HTTP
server (`runtime.serve.run_server`, the one `edge-router serve` uses) behind the AWS Lambda Web
Adapter, which turns each API Gateway event into an HTTP request to `127.0.0.1:$PORT` and
streams the response back through `InvokeWithResponseStream`.

`functions/router/run.sh` is the function's handler: it puts the layer on `PYTHONPATH` and
execs `python -m edge_router.runtime.lambda_stream`, which builds everything once per container
(`container.open_container`: config, DynamoDB client, health store, EMF sink, logger), then
serves. The adapter polls `GET /ready` until it answers, then sends the first invocation.

Per request (`StreamInvocation`), the properties the Mangum handler has:
1. the Powertools logger's `correlation_id` is the API Gateway request id, from the JSON of the
   `x-amzn-request-context` header the adapter adds (`requestId`); `function_request_id` is the
   Lambda request id from `x-amzn-lambda-context`;
2. a couple of loop turns before the app runs (see `container.settle`);
3. the response's last body message is held back until the health store's background writes
   have finished and the request's EMF line is on stdout: the sandbox freezes as soon as the
   response ends, so anything left for after it would land minutes later, or never.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..api.app import create_app
from ..api.deps import Deps
from ..api.ops_auth import ops_token
from ..auth import Authenticator
from ..build import build_deps
from ..clock import Clock
from ..config import ConfigError, env
from ..limits.build import limits_store
from .container import open_container, settle
from .serve import run_server

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from .emf import EmfMetrics

__all__ = ["StreamInvocation", "build_stream_app", "lambda_ids", "listen_port", "main"]

#: Headers the Lambda Web Adapter adds to every request it forwards.
REQUEST_CONTEXT_HEADER = b"x-amzn-request-context"
LAMBDA_CONTEXT_HEADER = b"x-amzn-lambda-context"
_MAX_ID = 128


def _field(raw: bytes | None, key: str) -> str | None:
    """`key` of a JSON object header, when it is a short string; None otherwise."""
    if raw is None:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= _MAX_ID else None


def lambda_ids(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """(API Gateway request id, Lambda request id) from the adapter's context headers."""
    request_context = lambda_context = None
    for name, value in headers:
        if name == REQUEST_CONTEXT_HEADER:
            request_context = value
        elif name == LAMBDA_CONTEXT_HEADER:
            lambda_context = value
    return _field(request_context, "requestId"), _field(lambda_context, "request_id")


class StreamInvocation:
    """The app as one Lambda invocation runs it behind the adapter (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, deps: Deps, metrics: EmfMetrics, logger: Logger) -> None:
        self.app = app
        self.sync = deps.sync
        self.limiter = deps.limiter
        self.metrics = metrics
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api_request_id, lambda_request_id = lambda_ids(scope["headers"])
        self.logger.set_correlation_id(api_request_id)
        self.logger.append_keys(function_request_id=lambda_request_id)
        last: Message | None = None

        async def hold_last(message: Message) -> None:
            nonlocal last
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                last = message  # the middleware records the request's metrics after this send
                return
            await send(message)

        await settle()
        try:
            await self.app(scope, receive, hold_last)
        finally:
            if self.sync is not None:
                await self.sync.drain()
            if self.limiter is not None:  # a usage flush begun by this request (bounded)
                await self.limiter.drain()
            self.metrics.flush()
        if last is not None:
            await send(last)


def build_stream_app(
    environ: Mapping[str, str],
    *,
    clock: Clock | None = None,
    on_store_call: Callable[[str], None] | None = None,
    write_metrics: Callable[[str], object] | None = None,
    auth: Authenticator | None = None,
) -> StreamInvocation:
    """The app for the stream mode, built from the environment like the Mangum handler
    (`lambda_buffered.build_router_handler`, same hooks); `deadline_s` bounds the time to the
    first byte only. Raises `ConfigError` naming the key; no network call but Secrets Manager."""
    from ..keys.build import build_auth

    c = open_container(environ, clock=clock, on_store_call=on_store_call,
                       write_metrics=write_metrics)
    upstream_auth = None
    if auth is None:
        auth, upstream_auth = build_auth(c.config, environ, store_client=c.client, clock=c.clock)
    deps = build_deps(c.config, clock=c.clock, store=c.store, metrics=c.metrics, auth=auth,
                      upstream_auth=upstream_auth, ops_token=ops_token(c.config, environ),
                      limits_store=limits_store(c.config, client=c.client, wall=c.clock.wall,
                                                on_call=on_store_call))
    return StreamInvocation(create_app(deps), deps=deps, metrics=c.metrics, logger=c.logger)


def listen_port(environ: Mapping[str, str]) -> int:
    """`PORT`, the port the adapter forwards to; `AWS_LWA_PORT`, when set, must equal it."""
    raw = environ.get(env.PORT, "")
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{env.PORT}: must be the port the web adapter forwards to, got {raw!r}")
    lwa = environ.get(env.LWA_PORT) or raw
    if lwa != raw:
        raise ConfigError(f"{env.LWA_PORT}: {lwa!r} differs from {env.PORT}={raw!r}; "
                          "the adapter would forward to a port nothing listens on")
    return int(raw)


def main(environ: Mapping[str, str] | None = None) -> int:
    """`functions/router/run.sh`: build once, then serve on 127.0.0.1:$PORT until SIGTERM."""
    environ = os.environ if environ is None else environ
    try:
        port = listen_port(environ)
        app = build_stream_app(environ)
    except ConfigError as exc:
        print(f"edge-router: invalid config: {exc}", file=sys.stderr, flush=True)
        return 2
    return run_server(app, host="127.0.0.1", port=port)


if __name__ == "__main__":
    sys.exit(main())
