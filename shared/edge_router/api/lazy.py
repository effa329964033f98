"""The app for a cold start (Lambda): the proxied operations need no FastAPI, so FastAPI is
imported and its app built on the first request that needs it, not at container start (SPEC §14).

`EdgeMiddleware` answers every proxied operation itself (`api.dialects.match`: the chat,
completions, embeddings, Responses and Anthropic Messages POSTs and the stateful Responses
calls; the fast path shared with `serve`); every other request goes to `LazyRoutes`, which imports
`api.app` and builds the FastAPI routes once, on first use (or at `warm()`, which a SnapStart
before-snapshot hook calls so restored containers have it ready). Importing FastAPI and
building its routes is the largest single part of a cold start (~1 s on a loaded 2-core box),
and the first request a scale-out container sees is, almost always, a proxy POST.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from .cors import cors_options
from .deps import Deps
from .middleware import EdgeMiddleware

__all__ = ["LazyRoutes", "create_lazy_app"]


class LazyRoutes:
    """An ASGI app that builds the FastAPI routes (`api.app.create_routes`) on first use."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._app: ASGIApp | None = None

    @property
    def built(self) -> bool:
        return self._app is not None

    def warm(self) -> ASGIApp:
        """Build the routes now (idempotent): one build per container, never two."""
        if self._app is None:
            from .app import create_routes  # the deferred import: FastAPI, pydantic schemas

            self._app = create_routes(self.deps)
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.warm()(scope, receive, send)


def create_lazy_app(deps: Deps) -> tuple[ASGIApp, LazyRoutes]:
    """`EdgeMiddleware` over `LazyRoutes` (and CORS outside it when configured): what
    `create_app` serves, with the routes built lazily; and the routes, to `warm()` them
    (SnapStart's before-snapshot hook)."""
    routes = LazyRoutes(deps)
    app: ASGIApp = EdgeMiddleware(routes, deps=deps)
    cors = cors_options(deps)
    return (app if cors is None else CORSMiddleware(app, **cors)), routes
