"""The Responses API's stored responses on one simulated upstream (SPEC §12).

A response created here lives here only, as with a real provider: `GET`/`DELETE
/v1/responses/{id}` and `/input_items` on another upstream answer 404, which is what makes the
router try the next one. The store is bounded (oldest dropped first), so a long demo cannot
grow the simulator's memory.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import orjson

from .answers import Answer, invalid

__all__ = ["ResponseStore", "stateful_answer"]

MAX_STORED = 1024


class ResponseStore:
    def __init__(self, limit: int = MAX_STORED) -> None:
        self._limit = limit
        self._items: OrderedDict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = OrderedDict()

    def put(self, response: dict[str, Any], inputs: list[dict[str, Any]]) -> None:
        self._items[response["id"]] = (response, inputs)
        while len(self._items) > self._limit:
            self._items.popitem(last=False)

    def get(self, response_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        return self._items.get(response_id)

    def delete(self, response_id: str) -> bool:
        return self._items.pop(response_id, None) is not None

    def clear(self) -> None:
        self._items.clear()


def input_items(value: Any, rid: str) -> list[dict[str, Any]]:
    """A request's `input` as the list of items `input_items` returns."""
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    items = []
    for n, item in enumerate(value if isinstance(value, list) else []):
        if not isinstance(item, dict):
            continue
        if "role" in item and "type" not in item:
            content = item.get("content")
            parts = ([{"type": "input_text", "text": content}] if isinstance(content, str)
                     else content if isinstance(content, list) else [])
            item = {"type": "message", "role": item["role"], "content": parts,
                    "status": "completed"}
        items.append({"id": f"msg_{rid}_{n}", **item})
    return items


def _not_found(response_id: str) -> Answer:
    return invalid(f"No response found with id '{response_id}'.", code="not_found", status=404)


def stateful_answer(method: str, path: str, store: ResponseStore) -> Answer:
    """`GET`/`DELETE /v1/responses/{id}`, `GET /v1/responses/{id}/input_items`."""
    response_id, _, suffix = path.removeprefix("/v1/responses/").partition("/")
    found = store.get(response_id)
    if (method, suffix) not in (("GET", ""), ("DELETE", ""), ("GET", "input_items")):
        return invalid(f"Unknown request URL: {method} {path}.", code="unknown_url", status=404)
    if found is None:
        return _not_found(response_id)
    response, inputs = found
    if method == "DELETE":
        store.delete(response_id)
        body = {"id": response_id, "object": "response.deleted", "deleted": True}
    elif suffix == "input_items":
        body = {"object": "list", "data": inputs, "has_more": False,
                "first_id": inputs[0]["id"] if inputs else None,
                "last_id": inputs[-1]["id"] if inputs else None}
    else:
        body = response
    return Answer(200, orjson.dumps(body))
