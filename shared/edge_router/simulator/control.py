"""The `/_sim/*` control and inspection API, on the simulator's own control port (and, as
before, on every simulated upstream's port, where "this upstream" is the default target).

On the control port no upstream is "this one": ``state`` and ``reset`` default to every
upstream, and ``fault`` and ``requests`` need ``upstream``. Its own listener is what keeps it
reachable while a ``refuse`` fault has closed an upstream's port.

=========================  ==================================================================
``GET  /_sim/state``       ``{id, port, requests, by_path, fault, listening}`` of this upstream;
                           ``?upstream=ID`` for another one, ``?upstream=*`` for all
``GET  /_sim/requests``    ``{id, requests: [...]}``: the last ``?limit=N`` requests received
                           (method, path, headers, body as text and base64, fault applied)
``POST /_sim/fault``       ``{"spec": "status:503"}`` sets this upstream's fault;
                           ``"upstream": "ID"`` (or ``"*"``) targets another one (or all)
``POST /_sim/reset``       clears counters, request log and fault (re-opens a refused one);
                           same optional ``"upstream"``
=========================  ==================================================================

Errors come back as ``{"error": {"message", "type", "param", "code"}}``; `/_sim` calls are never
counted as requests and never get a fault.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from .faults import FaultError
from .responses import JSON_TYPE, error_body

if TYPE_CHECKING:
    from .server import Simulator

__all__ = ["handle_control"]

_Handler = Callable[["Simulator", str | None, web.BaseRequest], Awaitable[web.Response]]


class _ControlError(Exception):
    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type=JSON_TYPE)


def _targets(sim: Simulator, own_id: str | None, requested: Any) -> list[str]:
    if requested is None:
        if own_id is None:
            raise _ControlError(
                400, 'upstream: name one (or "*") on the control port', "missing_field"
            )
        return [own_id]
    if requested == "*":
        return list(sim.ids)
    if not isinstance(requested, str) or requested not in sim.ids:
        raise _ControlError(
            404,
            f"unknown upstream {requested!r}; simulated: {', '.join(sim.ids)}",
            "unknown_upstream",
        )
    return [requested]


async def _payload(request: web.BaseRequest) -> dict[str, Any]:
    body = await request.read()
    if not body.strip():
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _ControlError(400, "the body must be a JSON object", "invalid_json") from None
    if not isinstance(data, dict):
        raise _ControlError(400, "the body must be a JSON object", "invalid_json")
    return data


def _result(sim: Simulator, ids: list[str], requested: Any) -> web.Response:
    if requested == "*":
        return _json({"upstreams": [sim.state(i) for i in ids]})
    return _json(sim.state(ids[0]))


async def _state(sim: Simulator, own_id: str | None, request: web.BaseRequest) -> web.Response:
    requested = request.query.get("upstream", "*" if own_id is None else None)
    return _result(sim, _targets(sim, own_id, requested), requested)


async def _requests(sim: Simulator, own_id: str | None, request: web.BaseRequest) -> web.Response:
    requested = request.query.get("upstream")
    if requested == "*":
        raise _ControlError(
            400, "upstream: the request log is per upstream, name one", "invalid_field"
        )
    (target,) = _targets(sim, own_id, requested)
    limit_text = request.query.get("limit")
    try:
        limit = int(limit_text) if limit_text is not None else None
    except ValueError:
        raise _ControlError(
            400, f"limit: expected an integer, got {limit_text!r}", "invalid_field"
        ) from None
    return _json({"id": target, "requests": sim.requests(target, limit)})


async def _fault(sim: Simulator, own_id: str | None, request: web.BaseRequest) -> web.Response:
    data = await _payload(request)
    spec = data.get("spec")
    if not isinstance(spec, str):
        raise _ControlError(400, 'expected {"spec": "MODE[:ARG][,key=value...]"}', "missing_field")
    ids = _targets(sim, own_id, data.get("upstream"))
    try:
        for upstream_id in ids:
            await sim.set_fault(upstream_id, spec)
    except FaultError as exc:
        raise _ControlError(400, f"invalid fault spec: {exc}", "invalid_fault") from exc
    return _result(sim, ids, data.get("upstream"))


async def _reset(sim: Simulator, own_id: str | None, request: web.BaseRequest) -> web.Response:
    data = await _payload(request)
    requested = data.get("upstream", "*" if own_id is None else None)
    ids = _targets(sim, own_id, requested)
    for upstream_id in ids:
        await sim.reset(upstream_id)
    return _result(sim, ids, requested)


_ROUTES: dict[str, tuple[str, _Handler]] = {
    "/_sim/state": ("GET", _state),
    "/_sim/requests": ("GET", _requests),
    "/_sim/fault": ("POST", _fault),
    "/_sim/reset": ("POST", _reset),
}


async def handle_control(
    sim: Simulator, own_id: str | None, request: web.BaseRequest
) -> web.Response:
    """Serve one `/_sim/*` request on upstream `own_id`'s port (None: the control port)."""
    route = _ROUTES.get(request.path)
    try:
        if route is None:
            raise _ControlError(404, f"unknown control path {request.path}", "not_found")
        method, handler = route
        if request.method != method:
            raise _ControlError(405, f"use {method} for {request.path}", "method_not_allowed")
        return await handler(sim, own_id, request)
    except _ControlError as exc:
        body = error_body(str(exc), type_="invalid_request_error", code=exc.code)
        return web.Response(status=exc.status, body=body, content_type=JSON_TYPE)
