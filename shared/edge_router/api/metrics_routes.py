"""`GET /metrics`: Prometheus' text format, when the app's metrics sink can render it
(`edge-router serve`'s `PrometheusMetrics`); else 404, as under Lambda, whose metrics are
CloudWatch EMF and whose per-container counts would mean nothing to a scraper. An ops endpoint:
`OpsGuard` decides who may read it. `prometheus_client` is imported by the sink, not here, so
the Lambda never loads it."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from fastapi import APIRouter, Request
from starlette.responses import Response

from .. import errors
from ..routing import breaker as br
from .deps import Deps


@runtime_checkable
class Exposes(Protocol):
    def set_available(self, available: dict[str, bool]) -> None: ...
    def exposition(self) -> tuple[bytes, str]: ...


def build_router(deps: Deps) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", summary="Prometheus metrics (edge_router_*), text format")
    async def metrics(request: Request) -> Response:
        await deps.ops.check(request)
        sink = deps.metrics
        if not isinstance(sink, Exposes):
            raise errors.NotFound(f"Unknown path: {request.url.path}")
        now = deps.clock.wall()
        sink.set_available({
            upstream_id: br.current_state(state.breaker, now) is not br.State.OPEN
            for upstream_id, state in deps.registry.states.items()
        })  # fmt: skip
        body, content_type = sink.exposition()
        return Response(body, media_type=content_type)

    return router
