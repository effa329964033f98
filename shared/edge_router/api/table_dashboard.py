"""The dashboard served from the health table: `edge-router dashboard --table T` (SPEC §15).

When the ops endpoints are private (the deployed default), operators look at the fleet from
their own machine: this app serves the very page of `GET /dashboard` on localhost, and answers
its `status` calls from the table (one `BatchGetItem` of every configured upstream × every known
region, at most once per `min_interval_s`), read with the operator's own AWS credentials.

Its `/status` has the shape of a router's, with `"live": false`: there is no router here, so
every region is an observer and none is drawn as "this router (live)"; `homes` maps each region
to its home upstream so the page can mark it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.responses import Response

from ..config import Config
from ..health.records import Observation
from ..health.store import HealthStoreError
from . import dashboard_routes
from .ops_routes import observer_json

ReadTable = Callable[[], Awaitable[Sequence[Observation]]]


def status_from_table(
    config: Config, regions: Sequence[str], observations: Sequence[Observation], *,
    now: float, source: str,
) -> dict[str, Any]:  # fmt: skip
    """A router-shaped `/status` body (without a live column) from the table's items."""
    upstreams = [
        {
            "id": u.id,
            "name": u.name,
            "observers": [observer_json(o) for o in observations if o.upstream_id == u.id],
        }
        for u in config.upstreams
    ]
    return {
        "live": False,
        "source": source,
        "region": None,
        "strategy": config.routing.strategy,
        "health_store": "dynamodb",
        "regions": list(regions),
        "homes": {r: u for r, u in config.home.items() if r in regions},
        "now": now,
        "upstreams": upstreams,
    }


def create_table_dashboard_app(
    config: Config,
    *,
    regions: Sequence[str],
    read: ReadTable,
    source: str,
    wall: Callable[[], float] = time.time,
    min_interval_s: float = 2.0,
) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(dashboard_routes.build_router())
    cache: dict[str, Any] = {}

    @app.get("/status")
    async def status() -> Response:
        now = wall()
        if cache.get("at") is None or now - cache["at"] >= min_interval_s:
            try:
                observations = await read()
            except HealthStoreError as exc:
                error = {"error": {"message": f"cannot read {source}: {exc}",
                                   "type": "upstream_error", "param": None,
                                   "code": "health_store_unavailable"}}  # fmt: skip
                return Response(orjson.dumps(error), status_code=502,
                                media_type="application/json")
            cache["body"] = orjson.dumps(
                status_from_table(config, regions, observations, now=now, source=source)
            )
            cache["at"] = now
        return Response(cache["body"], media_type="application/json",
                        headers={"cache-control": "no-store"})

    return app
