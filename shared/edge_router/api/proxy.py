"""The proxy request path, shared by the FastAPI routes and the middleware's fast path.

`handle()` runs SPEC §3's checks in order (headers 431 → Content-Length 413 → credential 401 →
body 413 → JSON 400 → fields 400 → model allowed 403) and hands a `Call` to `RouterService`;
`to_response` turns the `Reply` into a Starlette response. Both are transport-agnostic: the caller supplies
the raw headers and a body reader, so the hot path can skip the framework's per-request layers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.responses import Response, StreamingResponse

from .. import errors
from ..context import RequestContext
from ..reply import Reply
from ..service import Call
from .deps import Deps
from .limits import check_headers, check_limits
from .requests import parse_body, upstream_headers

#: The POST endpoints the router proxies, below /v1.
PROXY_PATHS = ("/chat/completions", "/completions", "/embeddings")

BodyReader = Callable[[int], Awaitable[bytes]]


def _header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def check_content_length(value: str | None, limit: int) -> None:
    if value is None:
        return
    try:
        length = int(value)
    except ValueError as exc:
        raise errors.InvalidField("Invalid Content-Length header.") from exc
    if length > limit:
        raise errors.RequestTooLarge(f"The request body is over the {limit}-byte limit.")


async def handle(
    deps: Deps,
    ctx: RequestContext,
    path: str,
    headers: Sequence[tuple[bytes, bytes]],
    read_body: BodyReader,
) -> Reply:
    limit = deps.config.limits.max_body_bytes
    check_headers(headers)
    check_content_length(_header(headers, b"content-length"), limit)
    principal = await deps.auth.authenticate(_header(headers, b"authorization"))
    before = deps.clock.monotonic()
    body = await read_body(limit)
    ctx.upload_s = deps.clock.monotonic() - before  # the client's upload is not our overhead
    parsed = parse_body(body, path, max_model_chars=deps.config.limits.max_model_chars)
    check_limits(parsed, path, deps.config.limits)
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
            headers, request_id=ctx.request_id, authorization=principal.forward_authorization
        ),
        rate_scope=principal.forward_authorization,
    )
    return await deps.service.forward(call, ctx)


def to_response(reply: Reply) -> Response:
    if reply.stream is not None:
        return StreamingResponse(reply.stream, status_code=reply.status, headers=dict(reply.headers))
    return Response(reply.body, status_code=reply.status, headers=dict(reply.headers))
