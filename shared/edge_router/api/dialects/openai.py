"""OpenAI's chat completions, completions and embeddings (SPEC §3): errors
`{"error": {"message", "type", "param", "code"}}`, a broken stream ends with one `data:` error
event, usage is `usage.prompt_tokens` / `usage.completion_tokens` (a stream's comes last, when
the client asked for it with `stream_options.include_usage`)."""

from __future__ import annotations

import orjson

from ...errors import to_openai_body
from ...wire import Usage, Wire, last_object_after, usage_field


def stream_error(message: str, code: str) -> bytes:
    body = {"error": {"message": message, "type": "upstream_error", "param": None, "code": code}}
    return b"data: " + orjson.dumps(body) + b"\n\n"


def usage_from_json(answer: object) -> Usage | None:
    found = usage_field(answer)
    return found if isinstance(found, dict) else None


def usage_from_stream(head: bytes, tail: bytes) -> Usage | None:
    """The `usage` of the last chunk that carries one (`"usage": null` on the others)."""
    return last_object_after(tail, b'"usage":')


OPENAI = Wire(
    name="openai",
    error_body=to_openai_body,
    stream_error=stream_error,
    usage_from_json=usage_from_json,
    usage_from_stream=usage_from_stream,
)
