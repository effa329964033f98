"""The APIs the router speaks (SPEC §3, §12) and which endpoint speaks which.

`match(method, path)` is the fast path's table: the proxied operations, each an `Endpoint`
with its `Wire` (errors, stream error event, usage) and what it requires of a request. Paths
it does not know go to the FastAPI routes (OpenAPI, 404s, 405s). `wire_for_path` says in which
shape a router error on a path is rendered: Anthropic's on `/v1/messages…`, else OpenAI's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...wire import Wire
from .anthropic import ANTHROPIC
from .openai import OPENAI
from .responses import RESPONSES

__all__ = ["ANTHROPIC", "OPENAI", "RESPONSES", "Endpoint", "match", "wire_for_path"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One proxied operation. `path` is below /v1 and is what goes upstream; `kind` names the
    operation for the request checks (`api/requests.py`)."""

    kind: str
    path: str
    wire: Wire
    method: str = "POST"
    has_body: bool = True
    #: lives on the upstream that created it: a 404 from one upstream moves on (SPEC §12)
    stateful: bool = False


_POST = {
    f"/v1{path}": Endpoint(path, path, wire)
    for path, wire in (
        ("/chat/completions", OPENAI),
        ("/completions", OPENAI),
        ("/embeddings", OPENAI),
        ("/responses", RESPONSES),
        ("/messages", ANTHROPIC),
        ("/messages/count_tokens", ANTHROPIC),
    )
}

#: A stored response's id as the router accepts it in a path (OpenAI's are `resp_` + hex).
RESPONSE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

#: (method, suffix after the id) -> operation kind of the stateful Responses calls.
_STATEFUL = {
    ("GET", ""): "/responses/{id}",
    ("DELETE", ""): "/responses/{id}",
    ("GET", "/input_items"): "/responses/{id}/input_items",
    ("POST", "/cancel"): "/responses/{id}/cancel",
}
_RESPONSES_PREFIX = "/v1/responses/"


def match(method: str, path: str) -> Endpoint | None:
    """The proxied operation for `method path`, or None (the framework's routes answer)."""
    if method == "POST":
        found = _POST.get(path)
        if found is not None:
            return found
    if not path.startswith(_RESPONSES_PREFIX):
        return None
    response_id, _, suffix = path[len(_RESPONSES_PREFIX):].partition("/")
    kind = _STATEFUL.get((method, f"/{suffix}" if suffix else ""))
    if kind is None or not RESPONSE_ID.match(response_id):
        return None
    return Endpoint(kind, f"/responses/{response_id}{'/' + suffix if suffix else ''}",
                    RESPONSES, method=method, has_body=False, stateful=True)


def wire_for_path(path: str) -> Wire:
    """The API whose error shape the router answers in on `path`."""
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        return ANTHROPIC
    return OPENAI
