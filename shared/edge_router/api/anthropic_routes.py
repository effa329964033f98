"""`/v1/messages`: Anthropic's Messages API (SPEC §12), for the OpenAPI schema and the 405s;
requests are answered by the middleware's fast path like every proxied operation, and router
errors on these paths come back in Anthropic's shape (`dialects.wire_for_path`)."""

from __future__ import annotations

from fastapi import APIRouter

from . import schemas
from .deps import Deps
from .openai_routes import proxied


def build_router(deps: Deps) -> APIRouter:
    router = APIRouter(prefix="/v1")
    handle = proxied(deps)
    router.add_api_route("/messages", handle, methods=["POST"],
                         summary="Create a message (Anthropic Messages API, JSON or SSE)",
                         openapi_extra=schemas.MESSAGES)
    router.add_api_route("/messages/count_tokens", handle, methods=["POST"],
                         summary="Count a message's input tokens (Anthropic)",
                         openapi_extra=schemas.COUNT_TOKENS)
    return router
