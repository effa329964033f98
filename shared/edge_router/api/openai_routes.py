"""`/v1/*`: thin routes that parse, call `RouterService`, and return (STYLE habit 8)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from .. import errors
from ..context import RequestContext
from ..service import Call
from .deps import Deps
from .middleware import CONTEXT_KEY
from .requests import (
    check_content_length,
    parse_body,
    read_body,
    upstream_headers,
)


def build_router(deps: Deps) -> APIRouter:
    router = APIRouter(prefix="/v1")
    limit = deps.config.limits.max_body_bytes

    async def proxy(request: Request, path: str) -> Response:
        ctx: RequestContext = request.scope[CONTEXT_KEY]
        check_content_length(request, limit)
        principal = await deps.auth.authenticate(request.headers.get("authorization"))
        body = await read_body(request, limit)
        parsed = parse_body(body, path)
        model: str = parsed["model"]
        ctx.model = deps.prices.metric_model(model)
        if not principal.allows(model):
            raise errors.ModelNotAllowed(
                f"This API key may not use the model '{model}'.", param="model"
            )
        call = Call(
            path=path,
            method="POST",
            body=body,
            model=model,
            stream=parsed.get("stream") is True,
            headers=upstream_headers(
                request.scope["headers"],
                request_id=ctx.request_id,
                authorization=principal.forward_authorization,
            ),
        )
        reply = await deps.service.forward(call, ctx)
        if reply.stream is not None:
            return StreamingResponse(reply.stream, status_code=reply.status,
                                     headers=dict(reply.headers))
        return Response(reply.body, status_code=reply.status, headers=dict(reply.headers))

    @router.post("/chat/completions", summary="Create a chat completion (JSON or SSE)")
    async def chat_completions(request: Request) -> Response:
        return await proxy(request, "/chat/completions")

    @router.post("/completions", summary="Create a completion")
    async def completions(request: Request) -> Response:
        return await proxy(request, "/completions")

    @router.post("/embeddings", summary="Create embeddings")
    async def embeddings(request: Request) -> Response:
        return await proxy(request, "/embeddings")

    @router.get("/models", summary="List the models the upstreams serve")
    async def models(request: Request) -> Response:
        principal = await deps.auth.authenticate(request.headers.get("authorization"))
        ctx: RequestContext = request.scope[CONTEXT_KEY]
        return await deps.catalog.list_models(principal, ctx)

    return router
