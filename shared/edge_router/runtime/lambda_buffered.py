"""The router Lambda in `ResponseMode: buffered`: the app under Mangum, built once per container
(SPEC §8). Its sibling `lambda_stream` runs the same app under the Lambda Web Adapter.

`functions/router/handler.py` is only `handler = build_router_handler(os.environ)`; tests and
`bench/lambda_bench.py` build handlers the same way, with their own environment and hooks.

Per invocation (`RouterHandler.__call__`):
1. the Powertools logger takes the Lambda context and the API Gateway request id
   (`requestContext.requestId`) as correlation id;
2. the container's one event loop is made current and Mangum runs the app on it (see
   `container.ContainerLoop`: this is what keeps the upstream connection pool warm);
3. before the invocation returns, background health-store writes (breaker transitions, each
   bounded by `health.timeout_ms`) are awaited: Lambda freezes the process once the handler
   returns, so a write left running would land minutes later or never;
4. the EMF metrics of the invocation are flushed (one line per request).

Under Mangum a streamed answer is buffered into one response, and `deadline_s` bounds the whole
of it (`buffered_streams=True`): a stream still running at the deadline ends with a
`deadline_exceeded` error event, before API Gateway's 30 s cut.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from mangum import Mangum
from mangum.types import ASGI
from starlette.types import ASGIApp, Receive, Scope, Send

from ..api.deps import Deps
from ..api.lazy import create_lazy_app
from ..api.ops_auth import ops_token
from ..auth import Authenticator
from ..build import build_deps
from ..clock import Clock
from ..health.store import HealthStore
from ..keys.build import build_auth
from ..keys.upstream import UpstreamKeys
from ..limits.build import limits_store
from . import snapstart
from .container import ContainerLoop, open_container, settle
from .emf import EmfMetrics

__all__ = ["RouterHandler", "build_router_handler"]


def _invocation(app: ASGIApp, deps: Deps) -> ASGI:
    """The app as one invocation runs it on the container's loop.

    Before: `container.settle()`, so I/O that arrived while the container was frozen is
    processed first. After: a wait for the health store's background writes (Lambda freezes the process as soon
    as the handler returns).
    """
    sync, limiter = deps.sync, deps.limiter

    async def invocation(scope: Scope, receive: Receive, send: Send) -> None:
        await settle()
        try:
            await app(scope, receive, send)
        finally:
            if sync is not None:
                await sync.drain()
            if limiter is not None:  # a usage flush begun by this request (bounded)
                await limiter.drain()

    return invocation


class RouterHandler:
    """`handler(event, context)`: one per container; holds everything built at import."""

    def __init__(
        self,
        deps: Deps,
        *,
        loop: ContainerLoop,
        metrics: EmfMetrics,
        logger: Logger,
        store: HealthStore,
    ) -> None:
        self.deps = deps
        self.loop = loop
        self.metrics = metrics
        self.logger = logger
        self.store = store
        self.app, self.routes = create_lazy_app(deps)
        loop.activate()  # Mangum looks up (or creates) the current loop when it is built
        self.mangum = Mangum(_invocation(self.app, deps), lifespan="off")
        self._invoke: Callable[[dict[str, Any], Any], dict[str, Any]] = (
            logger.inject_lambda_context(
                self._run, correlation_id_path=correlation_paths.API_GATEWAY_HTTP
            )
        )

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self._invoke(event, context)

    def _run(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.loop.activate()
        try:
            return self.mangum(event, context)
        finally:
            self.metrics.flush()

    def before_snapshot(self) -> None:
        """SnapStart: build the deferred FastAPI routes into the snapshot."""
        self.routes.warm()

    def after_restore(self) -> None:
        """SnapStart: this container's own jitter sequence, and no upstream connection (or DNS
        entry) from the snapshot; the next request opens its own."""
        snapstart.reseed(self.deps.service.rng)
        self.loop.run(self.deps.service.client.close())

    def close(self) -> None:
        """Release the upstream pool, the store and the loop (tests, benchmarks)."""
        if self.loop.loop.is_closed():
            return
        self.loop.run(self.deps.service.client.close())
        self.loop.run(self.store.close())
        if self.deps.limiter is not None:
            self.loop.run(self.deps.limiter.close())
        self.loop.close()


def build_router_handler(
    environ: Mapping[str, str] | None = None,
    *,
    clock: Clock | None = None,
    on_store_call: Callable[[str], None] | None = None,
    write_metrics: Callable[[str], object] | None = None,
    auth: Authenticator | None = None,
    upstream_auth: Callable[[str], str | None] | None = None,
) -> RouterHandler:
    """Build the router handler from the environment (SPEC §8): config file and overrides,
    the health store (DynamoDB when configured), the EMF sink, the logger and the app.

    The authenticator comes from `keys.build.build_auth` (passthrough, or keys mode with the
    router keys in the table and the upstream keys from the environment or Secrets Manager,
    which is read now: a missing key fails the start with a `ConfigError` naming it).
    Hooks for tests and other wiring: `clock`, `on_store_call` (counts health-store DynamoDB
    calls), `write_metrics` (receives EMF lines; default stdout), `auth` / `upstream_auth`
    (replace what `build_auth` would build). Makes no network call, but for Secrets Manager.
    """
    environ = os.environ if environ is None else environ
    c = open_container(environ, clock=clock, on_store_call=on_store_call,
                       write_metrics=write_metrics)
    snapshot = snapstart.snapshot_init(environ)  # then secrets are read after the restore
    keys: UpstreamKeys | None = None
    if auth is None:  # keys mode: router keys looked up in the table, upstream keys held here
        auth, keys = build_auth(c.config, environ, store_client=c.client, clock=c.clock,
                                check_keys=not snapshot)
        upstream_auth = upstream_auth or keys
    loop = ContainerLoop()
    deps = build_deps(
        c.config,
        clock=c.clock,
        store=c.store,
        metrics=c.metrics,
        auth=auth,
        upstream_auth=upstream_auth,
        buffered_streams=True,
        ops_token=ops_token(c.config, environ),
        limits_store=limits_store(c.config, client=c.client, wall=c.clock.wall,
                                  on_call=on_store_call),
    )
    handler = RouterHandler(deps, loop=loop, metrics=c.metrics, logger=c.logger, store=c.store)
    after_restore: list[snapstart.Hook] = [handler.after_restore]
    if snapshot and keys is not None:
        after_restore.append(keys.check)
    snapstart.register(before_snapshot=[handler.before_snapshot], after_restore=after_restore)
    return handler
