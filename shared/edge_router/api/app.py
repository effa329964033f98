"""`create_app(deps)`: the FastAPI app with its routers and the one set of error handlers,
under `EdgeMiddleware`. `create_routes(deps)` is the same app without the middleware, for
`api.lazy` (the Lambda's cold-start app puts the middleware outside and builds this lazily)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from .. import __version__, errors
from ..errors import RouterError
from . import anthropic_routes, dashboard_routes, metrics_routes, openai_routes, ops_routes
from .cors import cors_options
from .deps import Deps
from .dialects import wire_for_path
from .middleware import EdgeMiddleware, error_response

log = logging.getLogger(__name__)



async def _router_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RouterError)
    return error_response(exc, wire_for_path(request.url.path))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error: RouterError
    if exc.status_code == 404:
        error = errors.NotFound(f"Unknown path: {request.url.path}")
    elif exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow", "")
        error = errors.MethodNotAllowed(
            f"Method {request.method} is not allowed on {request.url.path}.",
            headers={"allow": allow} if allow else None,
        )
    else:
        error = errors.InvalidField(str(exc.detail))
    return error_response(error, wire_for_path(request.url.path))


async def _validation_error(request: Request, exc: Exception) -> Response:
    return error_response(errors.InvalidField("The request is not valid."),
                          wire_for_path(request.url.path))


async def _internal_error(request: Request, exc: Exception) -> Response:
    """A bug below `EdgeMiddleware` when it sits outside the app (`api.lazy`): Starlette's
    outermost layer answers with this instead of its plain-text 500, then re-raises, and the
    middleware logs it with the request id."""
    return error_response(RouterError())


def create_routes(deps: Deps) -> FastAPI:
    """The FastAPI app: routes, OpenAPI, errors in OpenAI's shape; no `EdgeMiddleware`."""
    app = FastAPI(
        title="HolySheep Edge Router",
        version=__version__,
        description="OpenAI-compatible LLM API router with failover and circuit breaking.",
        docs_url=None,
        redoc_url=None,
        # never a redirect built from the client's Host (SPEC §3): a trailing slash is a 404
        redirect_slashes=False,
        exception_handlers={
            RouterError: _router_error,
            StarletteHTTPException: _http_error,
            RequestValidationError: _validation_error,
            Exception: _internal_error,
        },
    )
    app.include_router(openai_routes.build_router(deps))
    app.include_router(anthropic_routes.build_router(deps))
    app.include_router(ops_routes.build_router(deps))
    app.include_router(dashboard_routes.build_router(guard=deps.ops))
    app.include_router(metrics_routes.build_router(deps))
    app.state.deps = deps
    return app


def create_app(deps: Deps) -> FastAPI:
    """The routes under `EdgeMiddleware` (request id, `x-edge-*` headers, the proxy fast path,
    the catch-all, metrics): what `serve` runs."""
    app = create_routes(deps)
    app.add_middleware(EdgeMiddleware, deps=deps)
    cors = cors_options(deps)
    if cors is not None:  # outermost: it must see the fast path's answers too
        app.add_middleware(CORSMiddleware, **cors)
    return app
