"""The three API dialects (`api/dialects`): which endpoint speaks which, errors in each shape,
the last event of a broken stream, and usage read from answers and streams."""

from __future__ import annotations

import orjson
import pytest

from edge_router import errors
from edge_router.api.dialects import ANTHROPIC, OPENAI, RESPONSES, match, wire_for_path
from edge_router.simulator import anthropic_api, responses_api
from edge_router.simulator.responses import chat_events


def test_the_endpoint_table() -> None:
    assert match("POST", "/v1/chat/completions").wire is OPENAI  # type: ignore[union-attr]
    assert match("POST", "/v1/responses").wire is RESPONSES  # type: ignore[union-attr]
    assert match("POST", "/v1/messages/count_tokens").wire is ANTHROPIC  # type: ignore[union-attr]
    stored = match("GET", "/v1/responses/resp_1/input_items")
    assert stored is not None and stored.stateful and not stored.has_body
    assert stored.path == "/responses/resp_1/input_items"
    assert match("DELETE", "/v1/responses/resp_1").path == "/responses/resp_1"  # type: ignore[union-attr]
    # no ids the router would not put in a URL, no unknown operations, no other methods
    assert match("GET", "/v1/responses/a%2Fb") is None
    assert match("GET", "/v1/responses/a..b") is None
    assert match("PUT", "/v1/responses/resp_1") is None
    assert match("GET", "/v1/responses/resp_1/other") is None
    assert match("GET", "/v1/messages") is None
    assert wire_for_path("/v1/messages/count_tokens") is ANTHROPIC
    assert wire_for_path("/v1/messagesx") is OPENAI


@pytest.mark.parametrize(("error", "kind"), [
    (errors.InvalidJSON(), "invalid_request_error"),
    (errors.MissingApiKey(), "authentication_error"),
    (errors.ModelNotAllowed(), "permission_error"),
    (errors.ModelNotFound(), "not_found_error"),
    (errors.RateLimited(), "rate_limit_error"),
    (errors.RouterError(), "api_error"),
    (errors.AllUpstreamsFailed(), "api_error"),
    (errors.NoUpstreamAvailable(), "overloaded_error"),
    (errors.DeadlineExceeded(), "api_error"),
])
def test_anthropic_error_shape(error: errors.RouterError, kind: str) -> None:
    assert ANTHROPIC.error_body(error) == {
        "type": "error", "error": {"type": kind, "message": error.message}}
    assert OPENAI.error_body(error)["error"]["code"] == error.code


def test_stream_error_events() -> None:
    assert OPENAI.stream_error("m", "stream_interrupted") == (
        b'data: {"error":{"message":"m","type":"upstream_error","param":null,'
        b'"code":"stream_interrupted"}}\n\n')
    assert RESPONSES.stream_error("m", "stream_interrupted") == (
        b'event: error\ndata: {"type":"error","code":"stream_interrupted","message":"m",'
        b'"param":null}\n\n')
    assert ANTHROPIC.stream_error("m", "stream_interrupted") == (
        b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"m"}}\n\n')


def test_usage_from_json() -> None:
    assert OPENAI.usage_from_json({"usage": {"prompt_tokens": 3, "completion_tokens": 4}}) == {
        "prompt_tokens": 3, "completion_tokens": 4}
    assert RESPONSES.usage_from_json({"usage": {"input_tokens": 3, "output_tokens": 4}}) == {
        "prompt_tokens": 3, "completion_tokens": 4}
    assert ANTHROPIC.usage_from_json({"usage": {
        "input_tokens": 3, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 20,
        "output_tokens": 4}}) == {"prompt_tokens": 33, "completion_tokens": 4}
    for wire in (OPENAI, RESPONSES, ANTHROPIC):
        assert wire.usage_from_json({"input_tokens": 5}) is None  # count_tokens: no usage
        assert wire.usage_from_json([1]) is None
    assert ANTHROPIC.usage_from_json({"usage": {"input_tokens": -1, "output_tokens": 2}}) == {
        "prompt_tokens": 0, "completion_tokens": 2}


def _split(stream: bytes, head: int = 8192, tail: int = 8192) -> tuple[bytes, bytes]:
    return stream[:head], stream[-tail:]


def test_usage_from_streams() -> None:
    chat = b"".join(chat_events("u", "gpt-4.1", rid="r", prompt_tokens=7, created=0,
                                include_usage=True))
    assert OPENAI.usage_from_stream(*_split(chat)) == {
        "prompt_tokens": 7, "completion_tokens": 11, "total_tokens": 18}
    payload = {"model": "m", "input": "x" * 40}
    events = b"".join(responses_api.response_events(
        payload, upstream_id="u", model="m", rid="r", response_id="resp_r", created=0))
    # "Hello from u! You are talking to m." is 36 characters: 9 tokens
    assert RESPONSES.usage_from_stream(*_split(events)) == {
        "prompt_tokens": 10, "completion_tokens": 9}
    messages = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "y" * 80}]}
    events = b"".join(anthropic_api.message_events(messages, upstream_id="u", model="m", rid="r"))
    assert ANTHROPIC.usage_from_stream(*_split(events)) == {
        "prompt_tokens": 20, "completion_tokens": 9}


def test_usage_survives_a_long_final_event_and_a_long_stream() -> None:
    # GIVEN a Responses stream whose response.completed repeats 50 KB of output text, and an
    # Anthropic stream of 50 KB of deltas: only the first and last 8 KiB are kept
    text = "z" * 50_000
    completed = {"type": "response.completed", "response": {
        "output": [{"content": [{"text": text}]}], "usage": {"input_tokens": 9,
                                                               "output_tokens": 12_500}}}
    stream = b"event: response.created\ndata: {\"usage\":null}\n\n" + (
        b"event: response.completed\ndata: " + orjson.dumps(completed) + b"\n\n")
    assert RESPONSES.usage_from_stream(*_split(stream)) == {
        "prompt_tokens": 9, "completion_tokens": 12_500}
    start = b'event: message_start\ndata: {"type":"message_start","message":{"usage":' \
            b'{"input_tokens":42,"output_tokens":1}}}\n\n'
    deltas = b"".join(b'event: content_block_delta\ndata: {"type":"content_block_delta",'
                      b'"delta":{"type":"text_delta","text":"\\"usage\\":{}"}}\n\n'
                      for _ in range(1000))
    end = b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":900}}' \
          b'\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n'
    assert ANTHROPIC.usage_from_stream(*_split(start + deltas + end)) == {
        "prompt_tokens": 42, "completion_tokens": 900}
