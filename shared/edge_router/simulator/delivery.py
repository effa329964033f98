"""Putting an `Answer` on the wire, normally or distorted by a fault (aiohttp only here).

Faults that end without a response (`reset`, `cut`, `hang` at shutdown) abort the transport and
return an unprepared response object, which aiohttp then drops without logging an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

from aiohttp import web

from . import anthropic_api
from . import responses as r
from .answers import Answer
from .faults import Fault

__all__ = ["abort", "deliver", "park"]

_LINGER_RESET = struct.pack("ii", 1, 0)


def abort(request: web.BaseRequest, *, reset: bool) -> web.StreamResponse:
    """Drop the connection at once; with `reset`, as a TCP RST (SO_LINGER 0) rather than a FIN.

    A FIN lets the client still read what was sent (a cut stream); a RST is a peer that died.
    """
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if reset and sock is not None:
            with contextlib.suppress(OSError):  # already closed by the peer: nothing to reset
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        transport.abort()
    return web.Response()


async def park(request: web.BaseRequest, closing: asyncio.Event) -> web.StreamResponse:
    """Hold the request without answering until the simulator closes (or the client leaves)."""
    await closing.wait()
    return abort(request, reset=False)


def _headers(answer: Answer, rid: str, *, content_type: str | None = None) -> dict[str, str]:
    return {
        **answer.headers,
        "Content-Type": content_type or answer.content_type,
        "x-request-id": rid,
    }


async def _start(
    request: web.BaseRequest, status: int, headers: dict[str, str], length: int | None
) -> web.StreamResponse:
    response = web.StreamResponse(status=status, headers=headers)
    if length is not None:
        response.content_length = length
    await response.prepare(request)
    return response


def _error(fault: Fault, upstream_id: str, rid: str, path: str) -> web.Response:
    headers = {"x-request-id": rid}
    if fault.retry_after is not None:
        seconds = fault.retry_after
        headers["retry-after"] = str(int(seconds)) if seconds.is_integer() else str(seconds)
    if fault.retry_after_ms is not None:
        headers["retry-after-ms"] = f"{fault.retry_after_ms:g}"
    if 300 <= fault.status < 400:
        headers["location"] = "/v1/moved"
    if path.startswith("/v1/messages"):  # Anthropic's clients get Anthropic's error shape
        reason = f"Simulated {fault.status} from {upstream_id}."
        body = anthropic_api.error_body(fault.status, reason)
    else:
        body = r.status_error(fault.status, upstream_id)
    return web.Response(
        status=fault.status, body=body, content_type=r.JSON_TYPE, headers=headers
    )


async def _normal(request: web.BaseRequest, answer: Answer, rid: str) -> web.StreamResponse:
    if answer.events is None:
        return web.Response(status=answer.status, body=answer.body, headers=_headers(answer, rid))
    headers = _headers(answer, rid)
    headers["Cache-Control"] = "no-cache"
    response = await _start(request, answer.status, headers, None)
    for event in answer.events:
        await response.write(event)
    await response.write_eof()
    return response


async def _cut(
    request: web.BaseRequest, answer: Answer, fault: Fault, rid: str
) -> web.StreamResponse:
    if answer.events is not None:
        response = await _start(request, answer.status, _headers(answer, rid), None)
        for event in answer.events[: fault.events_before_cut]:
            await response.write(event)
    else:
        response = await _start(request, answer.status, _headers(answer, rid), len(answer.body))
        await response.write(answer.body[: len(answer.body) // 2])
    await asyncio.sleep(0.01)  # let the kernel send what was written; abort drops the buffer
    abort(request, reset=False)
    return response


async def _trickle(
    request: web.BaseRequest, answer: Answer, fault: Fault, rid: str
) -> web.StreamResponse:
    raw = answer.raw
    length = None if answer.events is not None else len(raw)
    response = await _start(request, answer.status, _headers(answer, rid), length)
    for i in range(len(raw)):
        await response.write(raw[i : i + 1])
        await asyncio.sleep(fault.seconds)
    await response.write_eof()
    return response


async def deliver(
    request: web.BaseRequest,
    answer: Answer,
    fault: Fault | None,
    *,
    upstream_id: str,
    rid: str,
    closing: asyncio.Event,
) -> web.StreamResponse:
    """Send `answer` as `fault` says; `reset` and `hang` are handled before, by the caller."""
    mode = fault.mode if fault is not None else "ok"
    if mode in ("ok", "delay"):
        return await _normal(request, answer, rid)
    assert fault is not None
    if mode == "status":
        return _error(fault, upstream_id, rid, request.path)
    if mode == "html":
        return web.Response(
            status=fault.status,
            body=r.html_page(fault.status, upstream_id),
            headers={"Content-Type": r.HTML_TYPE, "x-request-id": rid},
        )
    if mode == "truncated":
        raw = answer.raw
        return web.Response(status=200, body=raw[: len(raw) // 2], headers=_headers(answer, rid))
    if mode == "cut":
        return await _cut(request, answer, fault, rid)
    if mode == "trickle":
        return await _trickle(request, answer, fault, rid)
    if mode == "stall":
        length = None if answer.events is not None else len(answer.body)
        await _start(request, answer.status, _headers(answer, rid), length)
        return await park(request, closing)
    raise ValueError(f"fault mode {mode!r} is not delivered here")
