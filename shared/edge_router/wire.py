"""What the routing service must know about the API a client speaks (its "wire format").

The router relays three APIs (SPEC §3, §12): OpenAI's chat/completions/embeddings, OpenAI's
Responses API and Anthropic's Messages API. They differ, for routing, in four things only, so a
`Wire` is just those four pure functions; the dialects themselves live in `api/dialects/`:

- `error_body`: the router's own error in the client's error shape;
- `stream_error`: the last event of a stream that broke after its first byte;
- `usage_from_json` / `usage_from_stream`: tokens of an answer, in OpenAI's vocabulary
  (`prompt_tokens`, `completion_tokens`), for cost, the token metrics and per-key limits;
- `key_header`: where keys mode puts the upstream key (`authorization: Bearer …`, or
  Anthropic's `x-api-key`).

`Usage` is a plain mapping so that `PriceBook.cost()` prices every dialect the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import RouterError

#: Token counts of one answer: `prompt_tokens`, `completion_tokens` (OpenAI's names).
Usage = Mapping[str, object]

_DECODER = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class Wire:
    name: str
    error_body: Callable[[RouterError], dict[str, Any]]
    stream_error: Callable[[str, str], bytes]  # (message, code) -> SSE bytes
    usage_from_json: Callable[[object], Usage | None]  # a parsed JSON answer
    usage_from_stream: Callable[[bytes, bytes], Usage | None]  # (first bytes, last bytes)
    key_header: str = "authorization"

    def upstream_key(self, key: str) -> tuple[str, str]:
        """The header that carries an upstream key in keys mode."""
        if self.key_header == "authorization":
            return "authorization", f"Bearer {key}"
        return self.key_header, key


def last_object_after(data: bytes, marker: bytes) -> dict[str, Any] | None:
    """The JSON object that follows the last `marker` (e.g. `b'"usage":'`) in `data`, or None.

    Streams are read for usage from their last few KiB only, where the event that carries it may
    begin before the window (a Responses `response.completed` event repeats the whole output), so
    the object is decoded where it starts rather than by parsing whole events. A marker inside a
    JSON string cannot match: its quotes would be escaped there.
    """
    end = len(data)
    while True:
        at = data.rfind(marker, 0, end)
        if at < 0:
            return None
        start = at + len(marker)
        text = data[start : start + 4096].decode("utf-8", "replace").lstrip()
        try:
            value, _ = _DECODER.raw_decode(text)
        except ValueError:
            end = at
            continue
        if isinstance(value, dict):
            return value
        end = at


def usage(prompt: int | None, completion: int | None) -> Usage | None:
    """Token counts in OpenAI's vocabulary; None when neither is known."""
    if prompt is None and completion is None:
        return None
    return {"prompt_tokens": prompt or 0, "completion_tokens": completion or 0}


def usage_field(answer: object) -> object:
    """An answer's `usage` object (every API calls it that), or None."""
    return answer.get("usage") if isinstance(answer, dict) else None


def count(value: object) -> int | None:
    """A token count: a non-negative int (not a bool), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None
