"""Chat completions that call a tool or follow `response_format` (simulator, pure).

A chat request with function `tools` (and no `tool_choice: "none"`) whose last message is not a
tool's answer (`role: tool`) gets a `tool_calls` answer for the first tool, its arguments made
from the tool's JSON schema; a `response_format` of type `json_schema` (or `json_object`) gets
a JSON object as its content. Anything else is answered by `responses.py` as before.
"""

from __future__ import annotations

from typing import Any

import orjson

from .answers import Answer
from .responses import DONE_EVENT, SSE_TYPE, estimate_tokens
from .shapes import example_of, tool_wanted

__all__ = ["chat_special"]


def _tool(payload: dict[str, Any]) -> dict[str, Any] | None:
    messages = payload.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    if isinstance(last, dict) and last.get("role") == "tool":
        return None
    tools = payload.get("tools")
    if not isinstance(tools, list) or not tool_wanted(payload.get("tool_choice")):
        return None
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and function.get("name"):
            return function
    return None


def _json_content(payload: dict[str, Any]) -> str | None:
    fmt = payload.get("response_format")
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        return orjson.dumps(example_of(spec.get("schema") if isinstance(spec, dict) else None)
                            ).decode()
    return "{}" if fmt.get("type") == "json_object" else None


def chat_special(
    payload: dict[str, Any], *, model: str, rid: str, prompt_tokens: int, created: int,
    stream: bool, include_usage: bool,
) -> Answer | None:
    """The answer to a chat request that wants a tool call or JSON, else None."""
    tool = _tool(payload)
    content = None if tool is not None else _json_content(payload)
    if tool is None and content is None:
        return None
    if tool is not None:
        arguments = orjson.dumps(example_of(tool.get("parameters"))).decode()
        call = {"id": f"call_{rid}", "type": "function",
                "function": {"name": tool["name"], "arguments": arguments}}
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call],
                                   "refusal": None}
        finish, produced = "tool_calls", arguments
    else:
        message = {"role": "assistant", "content": content, "refusal": None}
        finish, produced = "stop", content or ""
    completion_tokens = estimate_tokens(len(produced))
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "total_tokens": prompt_tokens + completion_tokens}
    base = {"id": f"chatcmpl-{rid}", "created": created, "model": model,
            "system_fingerprint": "fp_sim"}
    if not stream:
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        body = {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
        return Answer(200, orjson.dumps(body))

    def chunk(delta: dict[str, Any], reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
        data = {**base, "object": "chat.completion.chunk", "choices": [choice]}
        return b"data: " + orjson.dumps(data) + b"\n\n"

    if tool is not None:
        opening = {**call, "index": 0, "function": {"name": tool["name"], "arguments": ""}}
        events = [chunk({"role": "assistant", "content": None, "tool_calls": [opening]}),
                  chunk({"tool_calls": [{"index": 0, "function": {"arguments": produced}}]})]
    else:
        events = [chunk({"role": "assistant", "content": ""}), chunk({"content": produced})]
    events.append(chunk({}, finish))
    if include_usage:
        data = {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
        events.append(b"data: " + orjson.dumps(data) + b"\n\n")
    events.append(DONE_EVENT)
    return Answer(200, content_type=SSE_TYPE, events=events)
