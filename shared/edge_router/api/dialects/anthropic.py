"""Anthropic's Messages API (SPEC §12).

Errors: `{"type": "error", "error": {"type", "message"}}`, with Anthropic's error types mapped
from the router's statuses (`errors.py` keeps one tree; only the rendering differs). Streams:
`message_start` carries `message.usage.input_tokens`, the last `message_delta` carries
`usage.output_tokens` (and, from newer API versions, the final input counts too); a broken
stream ends with `event: error` + `data: {"type": "error", "error": {"type": "api_error", …}}`.
Prompt tokens count cache writes and reads as well as `input_tokens`, as OpenAI's
`prompt_tokens` includes cached tokens. The upstream key goes as `x-api-key` in keys mode.
"""

from __future__ import annotations

from typing import Any

import orjson

from ...errors import RouterError
from ...wire import Usage, Wire, count, last_object_after, usage, usage_field

#: HTTP status of a router error -> Anthropic's error type.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    431: "invalid_request_error",
    503: "overloaded_error",
}

_INPUT_FIELDS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


def error_body(error: RouterError) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": error_type(error.status_code), "message": error.message},
    }


def stream_error(message: str, code: str) -> bytes:
    body = {"type": "error", "error": {"type": "api_error", "message": message}}
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"


def _input(usage: dict[str, Any]) -> int | None:
    counts = [count(usage.get(name)) for name in _INPUT_FIELDS if name in usage]
    if not counts or any(c is None for c in counts):
        return None
    return sum(c for c in counts if c is not None)


def _tokens(found: object) -> Usage | None:
    if not isinstance(found, dict):
        return None
    return usage(_input(found), count(found.get("output_tokens")))


def usage_from_json(answer: object) -> Usage | None:
    return _tokens(usage_field(answer))


def usage_from_stream(head: bytes, tail: bytes) -> Usage | None:
    """`message_start`'s usage (in the first bytes, before any content block) updated by the
    last `message_delta`'s (in the last bytes)."""
    cut = head.find(b"content_block")
    start = last_object_after(head if cut < 0 else head[:cut], b'"usage":')
    delta = last_object_after(tail, b'"usage":')
    if start is None and delta is None:
        return None
    merged: dict[str, Any] = dict(start or {})
    merged.update({k: v for k, v in (delta or {}).items() if v is not None})
    return _tokens(merged)


ANTHROPIC = Wire(
    name="anthropic",
    error_body=error_body,
    stream_error=stream_error,
    usage_from_json=usage_from_json,
    usage_from_stream=usage_from_stream,
    key_header="x-api-key",
)
