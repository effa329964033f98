"""OpenAPI descriptions of the proxy endpoints' request bodies, for `/openapi.json` only.

The routes read the body bytes themselves (they go upstream unchanged, SPEC §3), so these
schemas never validate anything: they document the fields the router checks, and let tools such
as schemathesis generate requests. Unknown fields are allowed, as upstreams define many more.
"""

from __future__ import annotations

from typing import Any

_MODEL = {"type": "string", "minLength": 1, "description": "The model to route; required."}
_STREAM = {"type": "boolean", "description": "Answer as server-sent events."}
_N = {"type": "integer", "minimum": 1, "description": "Choices to generate (`limits.max_n`)."}
_MAX_TOKENS = {"type": "integer", "minimum": 1, "description": "Capped by `limits.max_tokens`."}
_TEXT_OR_LIST = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}, "minItems": 1},
    ]
}

_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant"]},
        "content": {"type": "string"},
    },
}

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}

_REQUEST_ID = {
    "name": "x-request-id",
    "in": "header",
    "required": False,
    "description": "Echoed and sent upstream if it matches [A-Za-z0-9._-]{1,128}; else replaced.",
    "schema": {"type": "string"},
}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "parameters": [_REQUEST_ID],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": required,
                        "properties": properties,
                        "additionalProperties": True,
                    }
                }
            },
        },
        "responses": {
            "400": {"description": "Invalid request",
                    "content": {"application/json": {"schema": _ERROR}}},
            "401": {"description": "Missing or invalid API key",
                    "content": {"application/json": {"schema": _ERROR}}},
            "403": {"description": "Model not allowed for this key",
                    "content": {"application/json": {"schema": _ERROR}}},
        },
    }


CHAT = _body(
    {
        "model": _MODEL,
        "messages": {"type": "array", "minItems": 1, "items": _MESSAGE},
        "stream": _STREAM,
        "n": _N,
        "max_tokens": _MAX_TOKENS,
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    },
    ["model", "messages"],
)
COMPLETIONS = _body(
    {"model": _MODEL, "prompt": _TEXT_OR_LIST, "stream": _STREAM, "n": _N,
     "max_tokens": _MAX_TOKENS},
    ["model", "prompt"],
)
EMBEDDINGS = _body({"model": _MODEL, "input": _TEXT_OR_LIST}, ["model", "input"])
RESPONSES = _body(
    {
        "model": _MODEL,
        "input": _TEXT_OR_LIST,
        "instructions": {"type": "string"},
        "stream": _STREAM,
        "max_output_tokens": _MAX_TOKENS,
        "previous_response_id": {
            "type": "string",
            "description": "Continue a stored response: routed like the stateful calls.",
        },
    },
    ["model"],
)
_ANTHROPIC_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"type": "string", "enum": ["user", "assistant"]},
        "content": {"type": "string"},
    },
}
MESSAGES = _body(
    {
        "model": _MODEL,
        "messages": {"type": "array", "minItems": 1, "items": _ANTHROPIC_MESSAGE},
        "max_tokens": _MAX_TOKENS,
        "system": {"type": "string"},
        "stream": _STREAM,
    },
    ["model", "messages", "max_tokens"],
)
COUNT_TOKENS = _body(
    {
        "model": _MODEL,
        "messages": {"type": "array", "minItems": 1, "items": _ANTHROPIC_MESSAGE},
        "system": {"type": "string"},
    },
    ["model", "messages"],
)
