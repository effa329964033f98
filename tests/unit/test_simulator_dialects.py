"""The simulator's newer answers, pure: chat tool calls and `response_format`, the Responses
API's stored responses and model check, Anthropic's validation and error shape."""

from __future__ import annotations

import json
from typing import Any

import openai.types.chat as chat_types

from edge_router.simulator.answers import Answer
from edge_router.simulator.endpoints import answer
from edge_router.simulator.responses import models_list
from edge_router.simulator.stateful import ResponseStore

MODELS = ("gpt-4.1", "claude-sonnet-4.5")
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"]}}}]
HI = [{"role": "user", "content": "Weather in Paris?"}]


def ask(path: str, payload: Any = None, *, method: str = "POST",
        store: ResponseStore | None = None, n: int = 7) -> Answer:
    return answer(method, path, b"" if payload is None else json.dumps(payload).encode(),
                  upstream_id="us-east", models_body=models_list(list(MODELS), 1),
                  authorization="Bearer k", require_key=None, rid=f"sim-us-east-00000{n}",
                  created=1700000000, models=MODELS, store=store)


def test_chat_tool_call_json_and_stream() -> None:
    reply = ask("/v1/chat/completions", {"model": "gpt-4.1", "messages": HI, "tools": TOOLS})
    completion = chat_types.ChatCompletion.model_validate_json(reply.body)
    call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "example"}  # type: ignore[union-attr]
    streamed = ask("/v1/chat/completions", {"model": "gpt-4.1", "messages": HI, "tools": TOOLS,
                                            "stream": True})
    assert streamed.events is not None and streamed.events[-1] == b"data: [DONE]\n\n"
    chunks = [chat_types.ChatCompletionChunk.model_validate_json(e[6:])
              for e in streamed.events[:-1]]
    arguments = "".join(c.choices[0].delta.tool_calls[0].function.arguments or ""  # type: ignore[index, union-attr]
                        for c in chunks if c.choices and c.choices[0].delta.tool_calls)
    assert json.loads(arguments) == {"city": "example"}
    # once the tool has answered, or when tools are off, the answer is text again
    done = [*HI, {"role": "assistant", "tool_calls": []}, {"role": "tool", "content": "sunny"}]
    for payload in ({"messages": done, "tools": TOOLS},
                    {"messages": HI, "tools": TOOLS, "tool_choice": "none"}):
        text = ask("/v1/chat/completions", {"model": "gpt-4.1", **payload})
        assert "us-east" in json.loads(text.body)["choices"][0]["message"]["content"]


def test_chat_response_format() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"},
                                               "score": {"type": "number"}}}
    reply = ask("/v1/chat/completions", {"model": "gpt-4.1", "messages": HI, "response_format": {
        "type": "json_schema", "json_schema": {"name": "x", "schema": schema}}})
    content = json.loads(reply.body)["choices"][0]["message"]["content"]
    assert json.loads(content) == {"answer": "example", "score": 1.5}
    plain = ask("/v1/chat/completions", {"model": "gpt-4.1", "messages": HI,
                                          "response_format": {"type": "json_object"}})
    assert json.loads(json.loads(plain.body)["choices"][0]["message"]["content"]) == {}


def test_responses_are_stored_and_found_only_where_they_were_made() -> None:
    store, elsewhere = ResponseStore(), ResponseStore()
    created = json.loads(ask("/v1/responses", {"model": "gpt-4.1", "input": "hi"},
                             store=store).body)
    path = f"/v1/responses/{created['id']}"
    assert json.loads(ask(path, method="GET", store=store).body)["id"] == created["id"]
    items = json.loads(ask(path + "/input_items", method="GET", store=store).body)
    assert items["data"][0]["content"] == [{"type": "input_text", "text": "hi"}]
    assert ask(path, method="GET", store=elsewhere).status == 404
    follow = ask("/v1/responses", {"model": "gpt-4.1", "input": "again",
                                   "previous_response_id": created["id"]}, store=elsewhere)
    assert follow.status == 404
    assert json.loads(follow.body)["error"]["param"] == "previous_response_id"
    assert json.loads(ask(path, method="DELETE", store=store).body)["deleted"] is True
    assert ask(path, method="GET", store=store).status == 404
    unstored = ask("/v1/responses", {"model": "gpt-4.1", "input": "x", "store": False},
                   store=store, n=8)
    assert ask(f"/v1/responses/{json.loads(unstored.body)['id']}", method="GET",
               store=store).status == 404


def test_unknown_models_and_anthropic_validation() -> None:
    missing = ask("/v1/responses", {"model": "gpt-9", "input": "hi"})
    assert missing.status == 404
    assert json.loads(missing.body)["error"]["code"] == "model_not_found"
    unknown = ask("/v1/messages", {"model": "claude-9", "max_tokens": 5, "messages": HI})
    assert (unknown.status, json.loads(unknown.body)["error"]["type"]) == (404, "not_found_error")
    no_max = ask("/v1/messages", {"model": "claude-sonnet-4.5", "messages": HI})
    assert no_max.status == 400
    assert json.loads(no_max.body) == {"type": "error", "error": {
        "type": "invalid_request_error", "message": "max_tokens: Field required"}}
    counted = ask("/v1/messages/count_tokens", {"model": "claude-sonnet-4.5", "messages": HI})
    assert json.loads(counted.body) == {"input_tokens": 5}  # 17 characters
