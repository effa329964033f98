"""OpenAI Responses API bodies and stream events for the simulator (pure, like `responses.py`).

A request with function `tools` (and no `tool_choice: "none"`) gets a `function_call` item for
the first tool, with arguments made from its JSON schema, unless its input already carries a
`function_call_output` (the tool's answer): then a text message. A `text.format` of type
`json_schema` gets a JSON object of the schema's shape as its text. Usage counts the input
at four characters per token.
"""

from __future__ import annotations

from typing import Any

import orjson

from .responses import estimate_tokens, reply_pieces
from .shapes import example_of, text_chars, tool_wanted

__all__ = ["input_tokens", "response_body", "response_events"]


def input_tokens(payload: dict[str, Any]) -> int:
    chars = text_chars(payload.get("input")) + text_chars(payload.get("instructions"))
    return estimate_tokens(chars)


def _function(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The function tool to call, or None when the answer is text."""
    items = payload.get("input")
    if isinstance(items, list) and any(
        isinstance(i, dict) and i.get("type") == "function_call_output" for i in items
    ):
        return None
    tools = payload.get("tools")
    if not isinstance(tools, list) or not tool_wanted(payload.get("tool_choice")):
        return None
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type") == "function" and tool.get("name"):
            return tool
    return None


def _text(payload: dict[str, Any], upstream_id: str, model: str) -> list[str]:
    text = payload.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return [orjson.dumps(example_of(fmt.get("schema"))).decode()]
    return list(reply_pieces(upstream_id, model))


def _output(
    payload: dict[str, Any], upstream_id: str, model: str, rid: str
) -> tuple[dict[str, Any], list[str]]:
    """The one output item, and the pieces its text (or arguments) streams in."""
    tool = _function(payload)
    if tool is not None:
        arguments = orjson.dumps(example_of(tool.get("parameters"))).decode()
        item = {"type": "function_call", "id": f"fc_{rid}", "call_id": f"call_{rid}",
                "name": tool["name"], "arguments": arguments, "status": "completed"}
        return item, [arguments]
    pieces = _text(payload, upstream_id, model)
    item = {"type": "message", "id": f"msg_{rid}", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": "".join(pieces), "annotations": [],
                         "logprobs": []}]}
    return item, pieces


def _response(
    payload: dict[str, Any], model: str, *, response_id: str, created: int,
    output: list[dict[str, Any]], usage: dict[str, Any] | None, status: str,
) -> dict[str, Any]:
    return {
        "id": response_id, "object": "response", "created_at": created, "status": status,
        "background": False, "error": None, "incomplete_details": None,
        "instructions": payload.get("instructions"),
        "max_output_tokens": payload.get("max_output_tokens"), "model": model,
        "output": output, "parallel_tool_calls": True,
        "previous_response_id": payload.get("previous_response_id"),
        "store": payload.get("store", True) is not False,
        "temperature": 1.0, "text": payload.get("text") or {"format": {"type": "text"}},
        "tool_choice": payload.get("tool_choice", "auto"), "tools": payload.get("tools") or [],
        "top_p": 1.0, "truncation": "disabled", "usage": usage, "metadata": {},
    }


def _usage(payload: dict[str, Any], output_pieces: list[str]) -> dict[str, Any]:
    prompt = input_tokens(payload)
    completion = estimate_tokens(sum(len(p) for p in output_pieces))
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion}


def response_body(
    payload: dict[str, Any], *, upstream_id: str, model: str, rid: str, response_id: str,
    created: int,
) -> dict[str, Any]:
    """The whole `response` object of a completed request."""
    item, pieces = _output(payload, upstream_id, model, rid)
    return _response(payload, model, response_id=response_id, created=created, output=[item],
                     usage=_usage(payload, pieces), status="completed")


def response_events(
    payload: dict[str, Any], *, upstream_id: str, model: str, rid: str, response_id: str,
    created: int,
) -> list[bytes]:
    """The typed SSE events of a streamed response, `response.created` to `.completed`."""
    item, pieces = _output(payload, upstream_id, model, rid)
    final = _response(payload, model, response_id=response_id, created=created, output=[item],
                      usage=_usage(payload, pieces), status="completed")
    start = {**final, "status": "in_progress", "output": [], "usage": None}
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": start}),
        ("response.in_progress", {"response": start}),
    ]
    where = {"item_id": item["id"], "output_index": 0}
    if item["type"] == "function_call":
        events.append(("response.output_item.added",
                       {"output_index": 0, "item": {**item, "arguments": "",
                                                    "status": "in_progress"}}))
        events += [("response.function_call_arguments.delta", {**where, "delta": p})
                   for p in pieces]
        events.append(("response.function_call_arguments.done",
                       {**where, "name": item["name"], "arguments": item["arguments"]}))
    else:
        part = item["content"][0]
        where = {**where, "content_index": 0}
        events.append(("response.output_item.added",
                       {"output_index": 0, "item": {**item, "status": "in_progress",
                                                    "content": []}}))
        events.append(("response.content_part.added",
                       {**where, "part": {**part, "text": ""}}))
        events += [("response.output_text.delta", {**where, "delta": p, "logprobs": []})
                   for p in pieces]
        events.append(("response.output_text.done",
                       {**where, "text": part["text"], "logprobs": []}))
        events.append(("response.content_part.done", {**where, "part": part}))
    events.append(("response.output_item.done", {"output_index": 0, "item": item}))
    events.append(("response.completed", {"response": final}))
    return [
        f"event: {name}\ndata: ".encode()
        + orjson.dumps({"type": name, **data, "sequence_number": n})
        + b"\n\n"
        for n, (name, data) in enumerate(events)
    ]
