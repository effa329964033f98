"""Reading and checking a client request, in SPEC §3's order, without re-serialising the body."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from starlette.requests import Request

from .. import errors

#: Only these client headers go upstream (SPEC §7); authorization is added by the caller.
FORWARDED_HEADERS = frozenset({
    b"content-type", b"accept", b"openai-beta", b"openai-organization", b"openai-project",
    b"user-agent",
})

#: endpoint path -> (required field, check)
REQUIRED: dict[str, tuple[str, str]] = {
    "/chat/completions": ("messages", "non_empty_list"),
    "/embeddings": ("input", "present"),
    "/completions": ("prompt", "present"),
}


async def read_body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise errors.RequestTooLarge(f"The request body is over the {limit}-byte limit.")
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_body(body: bytes, path: str) -> dict[str, Any]:
    """The JSON object, with `model` and the endpoint's required field checked."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.InvalidJSON("The request body is not valid JSON.") from exc
    if not isinstance(parsed, dict):
        raise errors.InvalidJSON("The request body must be a JSON object.")
    model = parsed.get("model")
    if model is None:
        raise errors.MissingField("Missing required parameter: 'model'.", param="model")
    if not isinstance(model, str) or not model.strip():
        raise errors.InvalidField("'model' must be a non-empty string.", param="model")
    field, check = REQUIRED[path]
    value = parsed.get(field)
    if value is None:
        raise errors.MissingField(f"Missing required parameter: '{field}'.", param=field)
    if check == "non_empty_list" and (not isinstance(value, list) or not value):
        raise errors.InvalidField(f"'{field}' must be a non-empty array.", param=field)
    stream = parsed.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise errors.InvalidField("'stream' must be a boolean.", param="stream")
    return parsed


def upstream_headers(
    raw: Iterable[tuple[bytes, bytes]], *, request_id: str, authorization: str | None
) -> dict[str, str]:
    """The allow-listed client headers, plus our request id and the credential to use."""
    out = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in raw
        if name in FORWARDED_HEADERS
    }
    out["x-request-id"] = request_id
    if authorization is not None:
        out["authorization"] = authorization
    return out
