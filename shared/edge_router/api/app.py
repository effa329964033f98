"""`create_app(deps)`: the FastAPI app with its routers and the one set of error handlers."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from .. import __version__, errors
from ..errors import RouterError, to_openai_body
from . import openai_routes, ops_routes
from .deps import Deps
from .middleware import EdgeMiddleware

log = logging.getLogger(__name__)


def error_response(error: RouterError) -> Response:
    return Response(
        orjson.dumps(to_openai_body(error)),
        status_code=error.status_code,
        headers=error.headers(),
        media_type="application/json",
    )


async def _router_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RouterError)
    ctx = request.scope.get("edge.ctx")
    if ctx is not None and ctx.error_class is None and exc.status_code >= 500:
        ctx.error_class = getattr(exc, "error_class", None)
    return error_response(exc)


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
        error.status_code = exc.status_code  # type: ignore[misc]
    return error_response(error)


async def _validation_error(request: Request, exc: Exception) -> Response:
    return error_response(errors.InvalidField("The request is not valid."))


def create_app(deps: Deps) -> FastAPI:
    app = FastAPI(
        title="HolySheep Edge Router",
        version=__version__,
        description="OpenAI-compatible LLM API router with failover and circuit breaking.",
        docs_url=None,
        redoc_url=None,
        exception_handlers={
            RouterError: _router_error,
            StarletteHTTPException: _http_error,
            RequestValidationError: _validation_error,
        },
    )
    app.include_router(openai_routes.build_router(deps))
    app.include_router(ops_routes.build_router(deps))
    app.add_middleware(
        EdgeMiddleware, region=deps.config.region, clock=deps.clock, metrics=deps.metrics
    )
    app.state.deps = deps
    return app
