"""`/v1/*`: thin routes that parse, call `RouterService`, and return (STYLE habit 8).

The three proxy POSTs are normally answered by the middleware's fast path (`EdgeMiddleware`
calls `proxy.handle` directly); these routes serve the same function when the app runs without
it, and give the OpenAPI schema and the 405s for other methods.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..context import RequestContext
from . import proxy, schemas
from .deps import Deps
from .middleware import CONTEXT_KEY
from .requests import read_body


def build_router(deps: Deps) -> APIRouter:
    router = APIRouter(prefix="/v1")

    async def handle(request: Request, path: str) -> Response:
        ctx: RequestContext = request.scope[CONTEXT_KEY]
        reply = await proxy.handle(
            deps, ctx, path, request.scope["headers"], lambda limit: read_body(request, limit)
        )
        return proxy.to_response(reply)

    @router.post("/chat/completions", summary="Create a chat completion (JSON or SSE)",
                 openapi_extra=schemas.CHAT)
    async def chat_completions(request: Request) -> Response:
        return await handle(request, "/chat/completions")

    @router.post("/completions", summary="Create a completion",
                 openapi_extra=schemas.COMPLETIONS)
    async def completions(request: Request) -> Response:
        return await handle(request, "/completions")

    @router.post("/embeddings", summary="Create embeddings", openapi_extra=schemas.EMBEDDINGS)
    async def embeddings(request: Request) -> Response:
        return await handle(request, "/embeddings")

    @router.get("/models", summary="List the models the upstreams serve")
    async def models(request: Request) -> Response:
        principal = await deps.auth.authenticate(request.headers.get("authorization"))
        ctx: RequestContext = request.scope[CONTEXT_KEY]
        return await deps.catalog.list_models(principal, ctx)

    return router
