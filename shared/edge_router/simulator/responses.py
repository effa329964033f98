"""OpenAI-shaped bodies for the simulator: completions, SSE chunks, embeddings, models, errors.

Everything here is pure and cheap: bodies are small dicts dumped with orjson, the reply text and
embedding vectors are cached, so the simulator's happy path stays fast enough to benchmark the
router against it.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import struct
from collections.abc import Sequence
from functools import lru_cache
from http import HTTPStatus
from typing import Any

import orjson

JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream"
HTML_TYPE = "text/html; charset=utf-8"
DONE_EVENT = b"data: [DONE]\n\n"
DEFAULT_EMBEDDING_DIMENSIONS = 1536

_STATUS_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "bad_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    408: ("timeout_error", "request_timeout"),
    409: ("invalid_request_error", "conflict"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def estimate_tokens(chars: int) -> int:
    """The rough OpenAI rule of thumb: four characters per token, at least one."""
    return max(1, (chars + 3) // 4)


def error_body(message: str, *, type_: str, code: str | None, param: str | None = None) -> bytes:
    return orjson.dumps(
        {"error": {"message": message, "type": type_, "param": param, "code": code}}
    )


def status_error(status: int, upstream_id: str) -> bytes:
    """The JSON error body of a `status:CODE` fault."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    default = (
        ("server_error", reason.lower().replace(" ", "_"))
        if status >= 500
        else ("invalid_request_error", f"http_{status}")
    )
    type_, code = _STATUS_ERRORS.get(status, default)
    return error_body(f"Simulated {status} {reason} from {upstream_id}.", type_=type_, code=code)


def html_page(status: int, upstream_id: str) -> bytes:
    """What a proxy in front of an upstream answers: HTML, not JSON."""
    try:
        title = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        title = str(status)
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>sim-proxy ({upstream_id})</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


def models_list(models: Sequence[str], created: int) -> bytes:
    data = [
        {"id": m, "object": "model", "created": created, "owned_by": "holysheep"} for m in models
    ]
    return orjson.dumps({"object": "list", "data": data})


@lru_cache(maxsize=4096)
def reply_pieces(upstream_id: str, model: str) -> tuple[str, ...]:
    """The answer text in stream-sized pieces; it names the upstream and echoes the model."""
    return ("Hello", " from", f" {upstream_id}!", " You are talking to", f" {model}.")


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _completion_tokens(upstream_id: str, model: str) -> int:
    return estimate_tokens(sum(len(p) for p in reply_pieces(upstream_id, model)))


def chat_completion(
    upstream_id: str, model: str, *, rid: str, prompt_tokens: int, created: int
) -> bytes:
    content = "".join(reply_pieces(upstream_id, model))
    return orjson.dumps(
        {
            "id": f"chatcmpl-{rid}",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_sim",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(prompt_tokens, _completion_tokens(upstream_id, model)),
        }
    )


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def chat_events(
    upstream_id: str, model: str, *, rid: str, prompt_tokens: int, created: int, include_usage: bool
) -> list[bytes]:
    """`chat.completion.chunk` events: role, content pieces, finish, [usage], then [DONE]."""
    base: dict[str, Any] = {
        "id": f"chatcmpl-{rid}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_sim",
    }
    if include_usage:
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _event({**base, "choices": [choice]})

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": piece}) for piece in reply_pieces(upstream_id, model)]
    events.append(chunk({}, "stop"))
    if include_usage:
        usage = _usage(prompt_tokens, _completion_tokens(upstream_id, model))
        events.append(_event({**base, "choices": [], "usage": usage}))
    events.append(DONE_EVENT)
    return events


def text_completion(
    upstream_id: str, model: str, *, rid: str, prompt_tokens: int, created: int
) -> bytes:
    text = "".join(reply_pieces(upstream_id, model))
    return orjson.dumps(
        {
            "id": f"cmpl-{rid}",
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}],
            "usage": _usage(prompt_tokens, _completion_tokens(upstream_id, model)),
        }
    )


def completion_events(
    upstream_id: str, model: str, *, rid: str, prompt_tokens: int, created: int, include_usage: bool
) -> list[bytes]:
    base: dict[str, Any] = {
        "id": f"cmpl-{rid}",
        "object": "text_completion",
        "created": created,
        "model": model,
    }
    if include_usage:
        base["usage"] = None

    def chunk(text: str, finish: str | None = None) -> bytes:
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}
        return _event({**base, "choices": [choice]})

    events = [chunk(piece) for piece in reply_pieces(upstream_id, model)]
    events.append(chunk("", "stop"))
    if include_usage:
        usage = _usage(prompt_tokens, _completion_tokens(upstream_id, model))
        events.append(_event({**base, "choices": [], "usage": usage}))
    events.append(DONE_EVENT)
    return events


@lru_cache(maxsize=2048)
def embedding_vector(text: str, dimensions: int) -> tuple[float, ...]:
    """A unit vector that depends only on the text and the size (same text, same vector)."""
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8", "replace")).digest()[:8], "big")
    rng = random.Random(seed)
    raw = [rng.uniform(-1.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return tuple(round(x / norm, 6) for x in raw)


@lru_cache(maxsize=2048)
def _embedding_base64(text: str, dimensions: int) -> str:
    vector = embedding_vector(text, dimensions)
    return base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode("ascii")


def embeddings(model: str, inputs: Sequence[str], *, dimensions: int, as_base64: bool) -> bytes:
    """An embeddings list; `as_base64` packs little-endian float32, as OpenAI does."""
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": _embedding_base64(text, dimensions)
            if as_base64
            else embedding_vector(text, dimensions),
        }
        for i, text in enumerate(inputs)
    ]
    tokens = estimate_tokens(sum(len(t) for t in inputs))
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )
