"""The `/v1` API of one simulated upstream, as a pure function from request to `Answer`.

No sockets here: `server.py` reads the request, asks `answer()` what a healthy upstream would
say, and then delivers it, or a fault's distortion of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from . import responses as r
from .answers import Answer, invalid
from .chat_extras import chat_special
from .dialect_endpoints import dialect_answer
from .stateful import ResponseStore, stateful_answer

__all__ = ["answer"]

_ROUTES: dict[str, str] = {
    "/v1/chat/completions": "POST",
    "/v1/completions": "POST",
    "/v1/embeddings": "POST",
    "/v1/models": "GET",
    "/v1/responses": "POST",
    "/v1/messages": "POST",
    "/v1/messages/count_tokens": "POST",
}


def _prompt_chars(messages: Sequence[Any]) -> int:
    chars = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(len(p.get("text", "")) for p in content if isinstance(p, dict))
    return chars


def _include_usage(payload: dict[str, Any]) -> bool:
    options = payload.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _embedding_inputs(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            return list(value)
        if all(isinstance(v, int) for v in value):
            return [repr(value)]
        if all(isinstance(v, list) for v in value):
            return [repr(v) for v in value]
    return None


def _generate(
    path: str, payload: dict[str, Any], *, upstream_id: str, rid: str, created: int
) -> Answer:
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        return invalid("you must provide a model parameter", code="missing_field", param="model")
    stream = payload.get("stream") is True
    if path == "/v1/embeddings":
        inputs = _embedding_inputs(payload.get("input"))
        if inputs is None:
            return invalid(
                "'input' must be a string or a non-empty array", code="invalid_field", param="input"
            )
        dims = payload.get("dimensions", r.DEFAULT_EMBEDDING_DIMENSIONS)
        if not isinstance(dims, int) or not 1 <= dims <= 4096:
            return invalid(
                "'dimensions' must be an integer 1-4096", code="invalid_field", param="dimensions"
            )
        as_base64 = payload.get("encoding_format") == "base64"
        return Answer(200, r.embeddings(model, inputs, dimensions=dims, as_base64=as_base64))
    if path == "/v1/chat/completions":
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            return invalid(
                "'messages' must be a non-empty array", code="missing_field", param="messages"
            )
        tokens = r.estimate_tokens(_prompt_chars(messages))
        special = chat_special(payload, model=model, rid=rid, prompt_tokens=tokens,
                               created=created, stream=stream,
                               include_usage=_include_usage(payload))
        if special is not None:  # a tool call, or JSON for `response_format`
            return special
        streamed, whole = r.chat_events, r.chat_completion
    else:
        prompt = payload.get("prompt")
        if prompt is None:
            return invalid(
                "you must provide a prompt parameter", code="missing_field", param="prompt"
            )
        tokens = r.estimate_tokens(len(prompt) if isinstance(prompt, str) else len(repr(prompt)))
        streamed, whole = r.completion_events, r.text_completion
    if stream:
        events = streamed(
            upstream_id,
            model,
            rid=rid,
            prompt_tokens=tokens,
            created=created,
            include_usage=_include_usage(payload),
        )
        return Answer(200, content_type=r.SSE_TYPE, events=events)
    return Answer(200, whole(upstream_id, model, rid=rid, prompt_tokens=tokens, created=created))


def answer(
    method: str,
    path: str,
    body: bytes,
    *,
    upstream_id: str,
    models_body: bytes,
    authorization: str | None,
    require_key: str | None,
    rid: str,
    created: int,
    api_key: str | None = None,
    models: tuple[str, ...] = (),
    store: ResponseStore | None = None,
) -> Answer:
    """What a healthy upstream answers to `method path` with `body`. `store` holds this
    upstream's Responses API responses (`stateful.py`); `models` are the ones it serves (the
    Responses and Messages endpoints answer 404 `model_not_found` for others)."""
    anthropic = path.startswith("/v1/messages")
    if require_key is not None and anthropic and api_key == require_key:
        authorization = f"Bearer {require_key}"
    if path.startswith("/v1/responses/") and store is not None:
        if require_key is not None and authorization != f"Bearer {require_key}":
            return invalid("Incorrect API key provided.", code="invalid_api_key", status=401)
        return stateful_answer(method, path, store)
    expected = _ROUTES.get(path)
    if expected is None:
        return invalid(f"Unknown request URL: {method} {path}.", code="unknown_url", status=404)
    if method != expected:
        answer_ = invalid(
            f"Method {method} not allowed on {path}.", code="method_not_allowed", status=405
        )
        answer_.headers["allow"] = expected
        return answer_
    if require_key is not None and authorization != f"Bearer {require_key}":
        message = (
            "Incorrect API key provided." if authorization else "You didn't provide an API key."
        )
        return invalid(message, code="invalid_api_key", status=401)
    if path == "/v1/models":
        return Answer(200, models_body)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return invalid("We could not parse the JSON body of your request.", code="invalid_json")
    if not isinstance(payload, dict):
        return invalid("The request body must be a JSON object.", code="invalid_json")
    if path == "/v1/responses" or anthropic:
        return dialect_answer(path, payload, upstream_id=upstream_id, rid=rid, created=created,
                              models=models, store=store)
    return _generate(path, payload, upstream_id=upstream_id, rid=rid, created=created)
