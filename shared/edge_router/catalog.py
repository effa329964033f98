"""`GET /v1/models`: the union of the upstreams' `models:` allow-lists and the model lists
fetched from upstreams without one, cached 60 s per credential (SPEC §3).

The cache holds at most `MAX_CREDENTIALS` credentials (in passthrough any Bearer string is a new
one), oldest dropped first, so no client can grow it by more than a fixed size."""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from typing import Any

import orjson
from starlette.responses import Response

from . import errors
from .auth import Principal
from .clock import Clock
from .config import Config
from .context import RequestContext
from .reply import response_headers
from .upstream.client import UpstreamClient
from .upstream.errors import AttemptError

CACHE_S = 60.0
FETCH_TIMEOUT_S = 5.0
MAX_CREDENTIALS = 128


class ModelCatalog:
    def __init__(
        self, config: Config, *, client: UpstreamClient, clock: Clock,
        upstream_auth: Any = None,
    ) -> None:
        self.config = config
        self.client = client
        self.clock = clock
        self.upstream_auth = upstream_auth
        self._cache: OrderedDict[str, tuple[float, list[dict[str, Any]]]] = OrderedDict()

    async def list_models(self, principal: Principal, ctx: RequestContext) -> Response:
        models = await self._models(principal, ctx)
        if isinstance(models, Response):
            return models
        return Response(orjson.dumps({"object": "list", "data": models}),
                        media_type="application/json")

    async def get_model(self, principal: Principal, ctx: RequestContext, model: str) -> Response:
        """`GET /v1/models/{model}`: the model object from the catalog, else 404 (SPEC §12)."""
        models = await self._models(principal, ctx)
        if isinstance(models, Response):
            return models
        for item in models:
            if item["id"] == model:
                return Response(orjson.dumps(item), media_type="application/json")
        raise errors.ModelNotFound(f"The model '{model}' does not exist.", param="model")

    async def _models(
        self, principal: Principal, ctx: RequestContext
    ) -> list[dict[str, Any]] | Response:
        """The catalog this principal may see (cached per credential), or an upstream's 4xx."""
        key = hashlib.sha256((principal.forward_authorization or principal.name).encode()).hexdigest()
        now = self.clock.wall()
        cached = self._cache.get(key)
        if cached is None or cached[0] <= now:
            started = self.clock.monotonic()
            models, failure = await self._collect(principal, ctx)
            ctx.waited_s += self.clock.monotonic() - started
            if failure is not None:
                return failure
            self._remember(key, now + CACHE_S, models)
        else:
            models = cached[1]
        if principal.models:
            models = [m for m in models if m["id"] in principal.models]
        return models

    def _remember(self, key: str, expires: float, models: list[dict[str, Any]]) -> None:
        self._cache[key] = (expires, models)
        self._cache.move_to_end(key)
        while len(self._cache) > MAX_CREDENTIALS:
            self._cache.popitem(last=False)

    async def _collect(
        self, principal: Principal, ctx: RequestContext
    ) -> tuple[list[dict[str, Any]], Response | None]:
        by_id: dict[str, dict[str, Any]] = {}
        for upstream in self.config.upstreams:
            for model in upstream.models:
                by_id.setdefault(model, {"id": model, "object": "model", "created": 0,
                                         "owned_by": upstream.id})
        fetch = [u for u in self.config.upstreams if not u.models]
        if not fetch:
            return list(by_id.values()), None
        deadline = asyncio.get_running_loop().time() + FETCH_TIMEOUT_S
        results = await asyncio.gather(
            *(self._fetch(u.id, u.base_url, principal, ctx, deadline) for u in fetch)
        )
        answered = False
        passthrough: Response | None = None
        for status, headers, body in results:
            if status is None:
                continue
            if 200 <= status < 300 and isinstance(body, dict) and isinstance(body.get("data"), list):
                answered = True
                for item in body["data"]:
                    if isinstance(item, dict) and isinstance(item.get("id"), str):
                        by_id.setdefault(item["id"], item)
            elif 400 <= status < 500 and body is not None and passthrough is None:
                passthrough = Response(orjson.dumps(body), status_code=status,
                                       headers=dict(headers))
        ctx.attempts += len(fetch)
        if not answered and not by_id:
            if passthrough is not None:
                return [], passthrough
            raise errors.AllUpstreamsFailed("No upstream answered the model list request.")
        return sorted(by_id.values(), key=lambda m: str(m["id"])), None

    async def _fetch(
        self, upstream_id: str, base_url: str, principal: Principal, ctx: RequestContext,
        deadline: float,
    ) -> tuple[int | None, list[tuple[str, str]], Any]:
        headers = {"x-request-id": ctx.request_id, "accept": "application/json"}
        key = self.upstream_auth(upstream_id) if self.upstream_auth else None
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        elif principal.forward_authorization:
            headers["authorization"] = principal.forward_authorization
        try:
            response = await self.client.send(
                base_url + "/models", method="GET", body=None, headers=headers,
                stream=False, deadline=deadline,
            )
        except AttemptError:
            return None, [], None
        try:
            body = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            return None, [], None
        return response.status, response_headers(response.headers), body
