"""`/ready` (the Lambda Web Adapter's readiness path), `/health` (for Route 53; never calls an
upstream) and `/status` (the health matrix as JSON; an ops endpoint: `deps.ops` says who may
read it, see `ops_auth.py`)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from ..health.records import Observation
from ..observability import CountingMetrics
from ..routing import breaker as br
from .deps import Deps

PROBE_FRESH_S = 180.0
_READY = orjson.dumps({"status": "ready"})


def health_view(deps: Deps, now: float) -> tuple[bool, dict[str, Any]]:
    registry = deps.registry
    usable = [
        upstream_id for upstream_id, s in registry.states.items()
        if br.current_state(s.breaker, now) is not br.State.OPEN
    ]
    observations = deps.sync.observations if deps.sync is not None else []
    region = deps.config.region
    recent_probes = {
        o.upstream_id: bool(o.probe_ok) for o in observations
        if o.region == region and o.probed_at is not None and now - o.probed_at <= PROBE_FRESH_S
    }
    probes_all_down = len(recent_probes) == len(registry.states) and not any(
        recent_probes.values()
    )
    ok = bool(usable) and not probes_all_down
    body: dict[str, Any] = {
        "status": "ok" if ok else "down",
        "region": region,
        "usable_upstreams": usable,
    }
    if probes_all_down:
        body["reason"] = "this region's health checker found every upstream unreachable"
    elif not usable:
        body["reason"] = "every upstream circuit is open"
    return ok, body


def observer_json(o: Observation) -> dict[str, Any]:
    return {
        "region": o.region, "state": o.state, "open_until": o.open_until,
        "state_changed_at": o.state_changed_at, "last_error": o.last_error,
        "requests": o.requests, "errors": o.errors, "latency_ewma_ms": o.latency_ewma_ms,
        "updated_at": o.updated_at, "probe_ok": o.probe_ok,
        "probe_latency_ms": o.probe_latency_ms, "probed_at": o.probed_at,
    }


def status_view(deps: Deps, now: float) -> dict[str, Any]:
    _, health = health_view(deps, now)
    regions = list(deps.sync.regions) if deps.sync is not None else [deps.config.region]
    observations = deps.sync.observations if deps.sync is not None else []
    upstreams = []
    for upstream_id, s in deps.registry.states.items():
        state = br.current_state(s.breaker, now)
        upstreams.append({
            "id": upstream_id,
            "name": s.upstream.name,
            "state": state.value,
            "open_until": s.breaker.open_until if state is not br.State.CLOSED else None,
            "rate_limited_until": s.rate_limited_until if s.rate_limited_until > now else None,
            # passthrough: marks that cover one client credential each (SPEC §5), only counted
            "rate_limited_credentials": deps.registry.scoped_marks(upstream_id, now),
            "latency_ewma_ms": None if s.latency_ewma_ms is None else round(s.latency_ewma_ms, 3),
            "in_flight": len(s.in_flight),
            "requests": s.requests,
            "errors": s.errors,
            "consecutive_failures": s.breaker.hard_run,
            "consecutive_errors": s.breaker.soft_run,
            "last_error": s.last_error,
            "remote_open_until": s.remote_open_until if s.remote_open_until > now else None,
            "observers": [
                observer_json(o) for o in observations
                if o.upstream_id == upstream_id and o.region != deps.config.region
            ],
        })
    body: dict[str, Any] = {
        "region": deps.config.region,
        "strategy": deps.config.routing.strategy,
        "home": deps.config.home_upstream,
        "health_store": deps.config.health.store,
        # every region whose items this router reads (`home` regions and this one), so a view of
        # the matrix can say which of them have no data
        "regions": regions,
        # each of those regions' home upstream (a view marks it)
        "homes": {r: u for r, u in deps.config.home.items() if r in regions},
        "synced_at": deps.sync.last_synced_at if deps.sync is not None else None,
        "now": now,
        # what this router's /health says now, so a view can flag a region Route 53 drops
        "health": {k: v for k, v in health.items() if k in ("status", "reason")},
        "upstreams": upstreams,
    }
    if isinstance(deps.metrics, CountingMetrics):  # `serve`: this process's metric totals
        body["metrics"] = dict(sorted(deps.metrics.totals.items()))
    return body


def build_router(deps: Deps) -> APIRouter:
    router = APIRouter()

    @router.api_route("/ready", methods=["GET", "HEAD"],
                      summary="Readiness: 200 once the app is built (no auth, upstream or store)")
    async def ready() -> Response:
        # SPEC §11: the adapter polls this before the first invocation. Never /health: a region
        # whose upstreams are all down would then never start, and so never recover.
        return Response(_READY, media_type="application/json")

    @router.api_route("/health", methods=["GET", "HEAD"],
                      summary="Route 53 health check: 200 when an upstream is usable")
    async def health() -> Response:
        # Route 53 may be all the traffic a region gets: /health must sync (bounded, once per
        # interval) so that a fresh container reflects the health checker's probes (SPEC §6).
        if deps.sync is not None:
            await deps.sync.maybe_sync()
        ok, body = health_view(deps, deps.clock.wall())
        return Response(orjson.dumps(body), status_code=200 if ok else 503,
                        media_type="application/json")

    @router.get("/status", summary="Per-upstream breaker state, latency and observers")
    async def status(request: Request) -> Response:
        await deps.ops.check(request)
        if deps.sync is not None:
            await deps.sync.maybe_sync()
        body = status_view(deps, deps.clock.wall())
        return Response(orjson.dumps(body), media_type="application/json")

    return router
