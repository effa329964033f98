"""Anthropic Messages API bodies, stream events and errors for the simulator (pure).

A request with `tools` (and no `tool_choice` of type `none`) gets a `tool_use` block for the
first tool, its `input` made from the tool's `input_schema`, unless the last user message
carries a `tool_result` (the tool's answer): then text. Usage counts `system` and `messages`
at four characters per token.
"""

from __future__ import annotations

from typing import Any

import orjson

from .responses import estimate_tokens, reply_pieces
from .shapes import example_of, text_chars, tool_wanted

__all__ = ["count_tokens_body", "error_body", "message_body", "message_events"]

#: status -> Anthropic's error type (https://docs.anthropic.com/en/api/errors)
_ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
    500: "api_error", 529: "overloaded_error",
}


def error_body(status: int, message: str) -> bytes:
    kind = _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


def input_tokens(payload: dict[str, Any]) -> int:
    return estimate_tokens(text_chars(payload.get("system")) + text_chars(payload.get("messages")))


def count_tokens_body(payload: dict[str, Any]) -> bytes:
    return orjson.dumps({"input_tokens": input_tokens(payload)})


def _tool(payload: dict[str, Any]) -> dict[str, Any] | None:
    messages = payload.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    content = last.get("content") if isinstance(last, dict) else None
    if isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    ):
        return None
    tools = payload.get("tools")
    if not isinstance(tools, list) or not tool_wanted(payload.get("tool_choice")):
        return None
    for tool in tools:
        if isinstance(tool, dict) and tool.get("name"):
            return tool
    return None


def _content(
    payload: dict[str, Any], upstream_id: str, model: str, rid: str
) -> tuple[dict[str, Any], list[str], str]:
    """The one content block, the pieces it streams in, and the stop reason."""
    tool = _tool(payload)
    if tool is not None:
        arguments = example_of(tool.get("input_schema"))
        block = {"type": "tool_use", "id": f"toolu_{rid}", "name": tool["name"],
                 "input": arguments}
        return block, [orjson.dumps(arguments).decode()], "tool_use"
    pieces = list(reply_pieces(upstream_id, model))
    return {"type": "text", "text": "".join(pieces)}, pieces, "end_turn"


def _message(model: str, rid: str, content: list[dict[str, Any]], stop: str | None,
             usage: dict[str, int]) -> dict[str, Any]:
    return {"id": f"msg_{rid}", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage}


def _usage(payload: dict[str, Any], output_tokens: int) -> dict[str, int]:
    return {"input_tokens": input_tokens(payload), "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0, "output_tokens": output_tokens}


def message_body(payload: dict[str, Any], *, upstream_id: str, model: str, rid: str) -> bytes:
    block, pieces, stop = _content(payload, upstream_id, model, rid)
    output = estimate_tokens(sum(len(p) for p in pieces))
    return orjson.dumps(_message(model, rid, [block], stop, _usage(payload, output)))


def message_events(
    payload: dict[str, Any], *, upstream_id: str, model: str, rid: str
) -> list[bytes]:
    """`message_start`, a content block's start/deltas/stop, `message_delta`, `message_stop`."""
    block, pieces, stop = _content(payload, upstream_id, model, rid)
    output = estimate_tokens(sum(len(p) for p in pieces))
    start = _message(model, rid, [], None, _usage(payload, 1))
    if block["type"] == "tool_use":
        opening = {**block, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    else:
        opening = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in pieces]
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": opening},
        {"type": "ping"},
        *({"type": "content_block_delta", "index": 0, "delta": d} for d in deltas),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
         "usage": {"output_tokens": output}},
        {"type": "message_stop"},
    ]
    return [f"event: {e['type']}\ndata: ".encode() + orjson.dumps(e) + b"\n\n" for e in events]
