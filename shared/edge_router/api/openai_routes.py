"""`/v1/*`: thin routes that parse, call `RouterService`, and return (STYLE habit 8).

The proxied operations (`api/dialects.match`) are normally answered by the middleware's fast
path (`EdgeMiddleware` calls `proxy.handle` directly); these routes serve the same function when
the app runs without it, and give the OpenAPI schema and the 405s for other methods.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from .. import errors
from ..context import RequestContext
from . import proxy, schemas
from .deps import Deps
from .dialects import match
from .middleware import CONTEXT_KEY
from .requests import read_body


def proxied(deps: Deps) -> Any:
    """The route body shared by every proxied operation."""

    async def handle(request: Request) -> Response:
        endpoint = match(request.method, request.url.path)
        if endpoint is None:  # e.g. a response id the router refuses to put in a URL
            raise errors.NotFound(f"Unknown path: {request.url.path}")
        ctx: RequestContext = request.scope[CONTEXT_KEY]
        reply = await proxy.handle(
            deps, ctx, endpoint, request.scope["headers"],
            lambda limit: read_body(request, limit), request.scope.get("query_string", b""),
        )
        return proxy.to_response(reply)

    return handle


def build_router(deps: Deps) -> APIRouter:
    router = APIRouter(prefix="/v1")
    handle = proxied(deps)

    router.add_api_route("/chat/completions", handle, methods=["POST"],
                         summary="Create a chat completion (JSON or SSE)",
                         openapi_extra=schemas.CHAT)
    router.add_api_route("/completions", handle, methods=["POST"],
                         summary="Create a completion", openapi_extra=schemas.COMPLETIONS)
    router.add_api_route("/embeddings", handle, methods=["POST"],
                         summary="Create embeddings", openapi_extra=schemas.EMBEDDINGS)
    router.add_api_route("/responses", handle, methods=["POST"],
                         summary="Create a model response (Responses API, JSON or SSE)",
                         openapi_extra=schemas.RESPONSES)

    async def stored(request: Request, response_id: str) -> Response:
        return await handle(request)  # type: ignore[no-any-return]

    router.add_api_route("/responses/{response_id}", stored, methods=["GET", "DELETE"],
                         summary="Get or delete a stored response (tries each upstream on 404)")
    router.add_api_route("/responses/{response_id}/input_items", stored, methods=["GET"],
                         summary="The input items of a stored response")
    router.add_api_route("/responses/{response_id}/cancel", stored, methods=["POST"],
                         summary="Cancel a background response")

    @router.get("/models", summary="List the models the upstreams serve")
    async def models(request: Request) -> Response:
        principal = await deps.auth.authenticate(request.headers.get("authorization"))
        ctx: RequestContext = request.scope[CONTEXT_KEY]
        return await deps.catalog.list_models(principal, ctx)

    @router.get("/models/{model:path}", summary="One model of the catalog (404 if none serves it)")
    async def model(request: Request, model: str) -> Response:
        principal = await deps.auth.authenticate(request.headers.get("authorization"))
        ctx: RequestContext = request.scope[CONTEXT_KEY]
        return await deps.catalog.get_model(principal, ctx, model)

    return router
