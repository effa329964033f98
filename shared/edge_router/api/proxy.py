"""The proxy request path, shared by the FastAPI routes and the middleware's fast path.

`handle()` runs SPEC §3's checks in order (headers 431 → Content-Length 413 → credential 401 →
body 413 → JSON 400 → fields 400 → model allowed 403 → the key's limits 429, §13) for any
`Endpoint` of `api/dialects` and hands a `Call` to `RouterService`;
`to_response` turns the `Reply` into a Starlette response. Both are transport-agnostic: the caller supplies
the raw headers and a body reader, so the hot path can skip the framework's per-request layers.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence

from starlette.responses import Response

from .. import errors
from ..answers import Call
from ..auth import Principal
from ..context import RequestContext
from ..reply import Reply
from .deps import Deps
from .dialects import ANTHROPIC, Endpoint
from .limits import check_headers, check_limits
from .relay import RelayResponse
from .requests import USAGE_ON_REQUEST, ask_for_stream_usage, parse_body, upstream_headers

BodyReader = Callable[[int], Awaitable[bytes]]

#: A query string forwarded on the stateful Responses calls (`?limit=20&order=asc`): printable
#: ASCII without spaces, as a client's encoder sends it.
_QUERY = re.compile(rb"^[\x21-\x7e]{0,2048}$")


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


async def _authenticate(
    deps: Deps, endpoint: Endpoint, headers: Sequence[tuple[bytes, bytes]]
) -> tuple[Principal, tuple[str, str] | None]:
    """Who is calling, and the credential to forward in passthrough mode. Anthropic's clients
    send `x-api-key` (or `Authorization: Bearer`); it goes upstream in the header it came in."""
    api_key = _header(headers, b"x-api-key") if endpoint.wire is ANTHROPIC else None
    if api_key and api_key.strip():
        principal = await deps.auth.authenticate(f"Bearer {api_key.strip()}")
        forward = None if principal.forward_authorization is None else ("x-api-key", api_key)
        return principal, forward
    principal = await deps.auth.authenticate(_header(headers, b"authorization"))
    if principal.forward_authorization is None:
        return principal, None
    return principal, ("authorization", principal.forward_authorization)


async def _admit(
    deps: Deps, ctx: RequestContext, principal: Principal, model: str | None
) -> None:
    """The key's limits (SPEC §13): 429 before any upstream call; nothing awaited for a key
    without limits. An admitted request is accounted for when it ends (`Limiter.account`)."""
    ctx.key_id, ctx.usage_model = principal.key_id, model
    if principal.limits is not None and deps.limiter is not None:
        await deps.limiter.admit(principal, ctx)
    ctx.admitted = True


async def handle(
    deps: Deps,
    ctx: RequestContext,
    endpoint: Endpoint,
    headers: Sequence[tuple[bytes, bytes]],
    read_body: BodyReader,
    query: bytes = b"",
) -> Reply:
    limit = deps.config.limits.max_body_bytes
    check_headers(headers, deps.config.limits.max_header_bytes)
    check_content_length(_header(headers, b"content-length"), limit)
    principal, credential = await _authenticate(deps, endpoint, headers)
    forward = upstream_headers(headers, request_id=ctx.request_id, credential=credential)
    if not endpoint.has_body:  # a stateful Responses call: no model, every upstream may hold it
        if not _QUERY.match(query):
            raise errors.InvalidField("The query string is not valid.")
        path = endpoint.path + ("?" + query.decode("ascii") if query else "")
        await _admit(deps, ctx, principal, None)
        stream = b"stream=true" in query
        call = Call(path=path, method=endpoint.method, body=None, model=None, stream=stream,
                    headers=forward, wire=endpoint.wire, stateful=True,
                    rate_scope=credential[1] if credential is not None else None)
        return await deps.service.forward(call, ctx)
    before = deps.clock.monotonic()
    body = await read_body(limit)
    ctx.upload_s = deps.clock.monotonic() - before  # the client's upload is not our overhead
    parsed = parse_body(body, endpoint.kind, max_model_chars=deps.config.limits.max_model_chars)
    check_limits(parsed, endpoint.kind, deps.config.limits)
    model: str = parsed["model"]
    ctx.model = deps.prices.metric_model(model)
    if not principal.allows(model):
        raise errors.ModelNotAllowed(
            f"This API key may not use the model '{model}'.", param="model"
        )
    await _admit(deps, ctx, principal, model)
    stream = parsed.get("stream") is True
    hide_usage = False
    if stream and endpoint.kind in USAGE_ON_REQUEST and _counts_tokens(principal):
        asked = ask_for_stream_usage(body, parsed)
        if asked is not None:
            (body, parsed), hide_usage = asked, True
    call = Call(
        path=endpoint.path,
        method="POST",
        body=body,
        model=model,
        stream=stream,
        headers=forward,
        wire=endpoint.wire,
        stateful=endpoint.stateful or parsed.get("previous_response_id") is not None,
        parsed=parsed,
        rate_scope=credential[1] if credential is not None else None,
        allowed_models=principal.models,
        hide_usage_event=hide_usage,
    )
    return await deps.service.forward(call, ctx)


def _counts_tokens(principal: Principal) -> bool:
    """The key has a `tpm` or a budget: its streams must report their usage (SPEC §13), so one
    that did not ask for it is made to (`ask_for_stream_usage`), and the client is not shown it."""
    limits = principal.limits
    return limits is not None and bool(limits.tpm or limits.budget_usd > 0)


def to_response(reply: Reply) -> Response:
    if reply.stream is not None:
        return RelayResponse(reply.stream, status_code=reply.status, headers=reply.headers)
    return Response(reply.body, status_code=reply.status, headers=dict(reply.headers))
