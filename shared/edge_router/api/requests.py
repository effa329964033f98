"""Reading and checking a client request, in SPEC §3's order, without re-serialising the body.

The body checks every API dialect shares live here, so a new endpoint reuses them rather than
copying them: `parse_object` (JSON, an object, no repeated top-level key), `check_model`
(`model` a non-empty string of at most `limits.max_model_chars`), `require` (an endpoint's
required field). `parse_body` runs them for every proxied operation of `REQUIRED`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.requests import Request

from .. import errors

#: Only these client headers go upstream (SPEC §7); authorization is added by the caller.
FORWARDED_HEADERS = frozenset({
    b"content-type", b"accept", b"openai-beta", b"openai-organization", b"openai-project",
    b"user-agent", b"anthropic-version", b"anthropic-beta",
})

#: operation -> the fields it requires besides `model`: (field, check)
REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "/chat/completions": (("messages", "non_empty_list"),),
    "/embeddings": (("input", "present"),),
    "/completions": (("prompt", "present"),),
    "/responses": (),
    "/messages": (("messages", "non_empty_list"), ("max_tokens", "integer")),
    "/messages/count_tokens": (("messages", "non_empty_list"),),
}


async def read_body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise errors.RequestTooLarge(f"The request body is over the {limit}-byte limit.")
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


# -- duplicate top-level keys ------------------------------------------------------------------
#: A key of these characters has one plain spelling in JSON, "key"; any other spelling of it
#: needs a \u00XX escape of a character in 0x2d..0x7a.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")
_ESCAPED_PLAIN = re.compile(rb"\\u00[2-7][0-9A-Fa-f]")


def repeats_a_key(body: bytes, parsed: dict[str, Any]) -> bool:
    """Whether the body's top-level object names a key twice (orjson keeps the last value, so
    the router would check one `model` while the upstream may read the other).

    Cheap test first (no hook exists in orjson): when every top-level key is plain and its
    quoted spelling occurs once in the whole body, and no escape could spell a plain key
    another way, no key repeats. Otherwise the stdlib parser with a pairs hook decides."""
    for key in parsed:
        if not _PLAIN_KEY.fullmatch(key) or body.count(b'"%s"' % key.encode()) != 1:
            return _repeats_slow(body)
    if b"\\u00" in body and _ESCAPED_PLAIN.search(body):
        return _repeats_slow(body)
    return False


def _repeats_slow(body: bytes) -> bool:
    repeats: list[bool] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        repeats.append(len({k for k, _ in items}) != len(items))
        return dict(items)

    try:
        json.loads(body, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return True  # orjson read it but this parser cannot: refuse rather than guess
    return repeats[-1]  # the top-level object is the last one to close


# -- the checks every endpoint shares ----------------------------------------------------------
def parse_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; 400 `invalid_json` if it is not one or repeats a key."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.InvalidJSON("The request body is not valid JSON.") from exc
    if not isinstance(parsed, dict):
        raise errors.InvalidJSON("The request body must be a JSON object.")
    if repeats_a_key(body, parsed):
        raise errors.InvalidJSON("The request body repeats a top-level key.")
    return parsed


def check_model(parsed: dict[str, Any], *, max_chars: int) -> str:
    """`model`: a non-empty string of at most `max_chars` characters (400 otherwise)."""
    model = parsed.get("model")
    if model is None:
        raise errors.MissingField("Missing required parameter: 'model'.", param="model")
    if not isinstance(model, str) or not model.strip():
        raise errors.InvalidField("'model' must be a non-empty string.", param="model")
    if len(model) > max_chars:
        raise errors.InvalidField(
            f"'model' is longer than {max_chars} characters (limits.max_model_chars).",
            param="model",
        )
    return model


def require(parsed: dict[str, Any], field: str, check: str = "present") -> Any:
    """A required field: `present` (not null), a `non_empty_list`, or an `integer`."""
    value = parsed.get(field)
    if value is None:
        raise errors.MissingField(f"Missing required parameter: '{field}'.", param=field)
    if check == "non_empty_list" and (not isinstance(value, list) or not value):
        raise errors.InvalidField(f"'{field}' must be a non-empty array.", param=field)
    if check == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        raise errors.InvalidField(f"'{field}' must be an integer.", param=field)
    return value


def parse_body(body: bytes, kind: str, *, max_model_chars: int) -> dict[str, Any]:
    """The JSON object of a proxied operation (`REQUIRED`'s kinds: OpenAI's, the Responses
    API's, Anthropic's), with `model` and the operation's required fields checked."""
    parsed = parse_object(body)
    check_model(parsed, max_chars=max_model_chars)
    for field, check in REQUIRED[kind]:
        require(parsed, field, check)
    stream = parsed.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise errors.InvalidField("'stream' must be a boolean.", param="stream")
    return parsed


def upstream_headers(
    raw: Iterable[tuple[bytes, bytes]], *, request_id: str,
    credential: tuple[str, str] | None,
) -> dict[str, str]:
    """The allow-listed client headers, plus our request id and the credential to forward
    (`("authorization", "Bearer …")`, or Anthropic's `("x-api-key", …)`)."""
    out = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in raw
        if name in FORWARDED_HEADERS
    }
    out["x-request-id"] = request_id
    if credential is not None:
        out[credential[0]] = credential[1]
    return out


#: The operations whose streams carry usage only when asked (`stream_options.include_usage`).
USAGE_ON_REQUEST = frozenset({"/chat/completions", "/completions"})
_ASK_USAGE = b'"stream_options":{"include_usage":true},'


def ask_for_stream_usage(
    body: bytes, parsed: dict[str, Any]
) -> tuple[bytes, dict[str, Any]] | None:
    """A streamed request that did not ask for its usage, made to ask (SPEC §13: a key's tokens
    and budget count what the answer used): `(body, parsed)` with
    `stream_options.include_usage: true`, or None when it already asks (or `stream_options` is
    not an object: the upstream will say so). Without `stream_options` the client's bytes stay as
    they are, the option inserted before its first field; with one, the object is re-serialised."""
    options = parsed.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        return None
    if options is not None and not isinstance(options, dict):
        return None
    asked = {**parsed, "stream_options": {**(options or {}), "include_usage": True}}
    if "stream_options" not in parsed:
        start = body.index(b"{") + 1  # parse_object: an object with at least `model`
        return body[:start] + _ASK_USAGE + body[start:], asked
    return orjson.dumps(asked), asked
