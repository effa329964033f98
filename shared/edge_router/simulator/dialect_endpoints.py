"""`POST /v1/responses` and `POST /v1/messages[/count_tokens]` of a simulated upstream (pure).

Both check the model against the upstream's list (404 `model_not_found` in the API's own error
shape), the Responses API stores what it creates (`stateful.py`) and needs a stored
`previous_response_id`, and the Messages API validates as Anthropic does (`messages`,
`max_tokens`) and answers errors in Anthropic's shape.
"""

from __future__ import annotations

from typing import Any

import orjson

from . import anthropic_api as a
from . import responses as r
from . import responses_api as ra
from .answers import Answer, invalid
from .stateful import ResponseStore, input_items

__all__ = ["dialect_answer"]


def _anthropic_error(status: int, message: str) -> Answer:
    return Answer(status, a.error_body(status, message))


def _messages(path: str, payload: dict[str, Any], *, upstream_id: str, rid: str,
              models: tuple[str, ...]) -> Answer:
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        return _anthropic_error(400, "model: Field required")
    if models and model not in models:
        return _anthropic_error(404, f"model: {model}")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        return _anthropic_error(400, "messages: at least one message is required")
    if path == "/v1/messages/count_tokens":
        return Answer(200, a.count_tokens_body(payload))
    max_tokens = payload.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return _anthropic_error(400, "max_tokens: Field required")
    if payload.get("stream") is True:
        events = a.message_events(payload, upstream_id=upstream_id, model=model, rid=rid)
        return Answer(200, content_type=r.SSE_TYPE, events=events)
    return Answer(200, a.message_body(payload, upstream_id=upstream_id, model=model, rid=rid))


def _responses(payload: dict[str, Any], *, upstream_id: str, rid: str, created: int,
               models: tuple[str, ...], store: ResponseStore | None) -> Answer:
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        return invalid("you must provide a model parameter", code="missing_field", param="model")
    if models and model not in models:
        return invalid(f"The model '{model}' does not exist or you do not have access to it.",
                       code="model_not_found", param="model", status=404)
    previous = payload.get("previous_response_id")
    if previous is not None and (store is None or store.get(str(previous)) is None):
        return invalid(f"Previous response with id '{previous}' not found.",
                       code="previous_response_not_found", param="previous_response_id",
                       status=404)
    kwargs = {"upstream_id": upstream_id, "model": model, "rid": rid,
              "response_id": f"resp_{rid}", "created": created}
    response = ra.response_body(payload, **kwargs)  # type: ignore[arg-type]
    if store is not None and payload.get("store", True) is not False:
        store.put(response, input_items(payload.get("input"), rid))
    if payload.get("stream") is True:
        return Answer(200, content_type=r.SSE_TYPE,
                      events=ra.response_events(payload, **kwargs))  # type: ignore[arg-type]
    return Answer(200, orjson.dumps(response))


def dialect_answer(path: str, payload: dict[str, Any], *, upstream_id: str, rid: str,
                   created: int, models: tuple[str, ...], store: ResponseStore | None) -> Answer:
    if path == "/v1/responses":
        return _responses(payload, upstream_id=upstream_id, rid=rid, created=created,
                          models=models, store=store)
    return _messages(path, payload, upstream_id=upstream_id, rid=rid, models=models)
