"""The real app (in process, over ASGI) in front of real simulated upstreams (over sockets)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from edge_router.api.app import create_app
from edge_router.api.deps import Deps
from edge_router.build import build_deps
from edge_router.clock import Clock
from edge_router.config import Config, build_config
from edge_router.simulator import Simulator
from tests.e2e.procs import SHORT_ROUTING

AUTH = {"authorization": "Bearer sk-test"}
CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}

# in process there is no start-up to wait for: a shorter deadline than the processes'; the
# first-byte timeout stays theirs (1 s), as the simulator shares the process on a busy machine
FAST_ROUTING = {**SHORT_ROUTING, "deadline_s": 5.0}
#: The health store's sync bound in these configs (SPEC §6 default: 200 ms): a loaded machine's
#: moto server can take longer than that; tests of the bound itself set `timeout_ms`.
PATIENT_HEALTH = {"timeout_ms": 5000}  # the most the config allows


@dataclass
class Routed:
    client: httpx.AsyncClient
    deps: Deps
    sim: Simulator

    def upstream_requests(self, upstream_id: str) -> int:
        return int(self.sim.state(upstream_id)["requests"])

    def attempts(self) -> dict[str, int]:
        return {i: self.upstream_requests(i) for i in self.sim.ids}


def sim_config(sim: Simulator, **sections: Any) -> dict[str, Any]:
    raw = _config_dict(sim)
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    raw["routing"] = {**FAST_ROUTING, **raw.get("routing", {})}
    raw["health"] = {**PATIENT_HEALTH, **raw.get("health", {})}
    return raw


def _config_dict(sim: Simulator) -> dict[str, Any]:
    from edge_router.simulator import config_dict

    return config_dict([(i, sim.url(i)) for i in sim.ids])


@asynccontextmanager
async def in_process(
    config: Config, *, clock: Clock | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, Deps]]:
    """The app built from `config`, called in process at http://router; the upstream pool is
    closed afterwards."""
    deps = build_deps(config, clock=clock, rng=random.Random(0))
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        try:
            yield client, deps
        finally:
            await deps.service.client.close()


@asynccontextmanager
async def routed(
    sim: Simulator, *, clock: Clock | None = None, region: str = "local", **sections: Any
) -> AsyncIterator[Routed]:
    config = build_config(sim_config(sim, **sections), region=region)
    async with in_process(config, clock=clock) as (client, deps):
        yield Routed(client, deps, sim)
