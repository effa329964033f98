"""OpenAI's Responses API (SPEC §12): errors in OpenAI's shape; streams are typed events
(`event: response.output_text.delta` …) and a broken one ends with
`event: error` + `data: {"type": "error", "code", "message", "param"}`; usage is
`usage.input_tokens` / `usage.output_tokens`, in a stream on `response.completed`'s response."""

from __future__ import annotations

import orjson

from ...errors import to_openai_body
from ...wire import Usage, Wire, count, last_object_after, usage, usage_field


def stream_error(message: str, code: str) -> bytes:
    body = {"type": "error", "code": code, "message": message, "param": None}
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"


def _tokens(found: object) -> Usage | None:
    if not isinstance(found, dict):
        return None
    return usage(count(found.get("input_tokens")), count(found.get("output_tokens")))


def usage_from_json(answer: object) -> Usage | None:
    return _tokens(usage_field(answer))


def usage_from_stream(head: bytes, tail: bytes) -> Usage | None:
    """`response.completed` (or `.incomplete`/`.failed`) is the last event and carries the
    response with its usage; the earlier ones say `"usage": null`."""
    return _tokens(last_object_after(tail, b'"usage":'))


RESPONSES = Wire(
    name="responses",
    error_body=to_openai_body,
    stream_error=stream_error,
    usage_from_json=usage_from_json,
    usage_from_stream=usage_from_stream,
)
