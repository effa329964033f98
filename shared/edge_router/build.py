"""Assemble a router from a `Config`: the one place the pieces are wired, shared by
`edge-router serve`, the Lambda handler and the tests. Building makes no network call."""

from __future__ import annotations

import random
from collections.abc import Callable

from .api.deps import Deps
from .api.ops_auth import OpsGuard
from .auth import Authenticator, PassthroughAuth
from .catalog import ModelCatalog
from .clock import Clock, SystemClock
from .config import Config
from .health.memory import MemoryHealthStore
from .health.store import HealthStore
from .health.sync import HealthSync
from .limits.build import build_limiter
from .limits.store import LimitsStore
from .observability import CountingMetrics, Metrics
from .pricing import PriceBook
from .registry import UpstreamRegistry
from .routing.breaker import Policy
from .service import RouterService
from .upstream.client import UpstreamClient


def breaker_policy(config: Config) -> Policy:
    b = config.breaker
    return Policy(
        consecutive_failures=b.consecutive_failures,
        consecutive_errors=b.consecutive_errors,
        cooldown_s=b.cooldown_s,
        max_cooldown_s=b.max_cooldown_s,
        trial_timeout_s=config.routing.deadline_s,
    )


def build_client(config: Config) -> UpstreamClient:
    return UpstreamClient(
        connect_timeout_s=config.routing.connect_timeout_s,
        idle_timeout_s=config.routing.first_byte_timeout_s,
        max_response_bytes=config.limits.max_response_bytes,
    )


def build_deps(
    config: Config,
    *,
    clock: Clock | None = None,
    client: UpstreamClient | None = None,
    store: HealthStore | None = None,
    metrics: Metrics | None = None,
    auth: Authenticator | None = None,
    upstream_auth: Callable[[str], str | None] | None = None,
    rng: random.Random | None = None,
    buffered_streams: bool = False,
    ops_token: str | None = None,
    limits_store: LimitsStore | None = None,
) -> Deps:
    clock = clock or SystemClock()
    client = client or build_client(config)
    metrics = metrics or CountingMetrics()
    registry = UpstreamRegistry(config, policy=breaker_policy(config))
    store = store or MemoryHealthStore(config.region, wall=clock.wall)
    sync = HealthSync(
        store,
        registry,
        regions=[*config.home.keys(), config.region],
        interval_s=config.health.sync_interval_s,
        timeout_s=config.health.timeout_ms / 1000.0,
        wall=clock.wall,
    )
    prices = PriceBook(config.pricing)
    service = RouterService(
        config,
        client=client,
        registry=registry,
        clock=clock,
        metrics=metrics,
        prices=prices,
        sync=sync,
        rng=rng,
        upstream_auth=upstream_auth,
        buffered_streams=buffered_streams,
    )
    auth = auth or PassthroughAuth()
    catalog = ModelCatalog(config, client=client, clock=clock, upstream_auth=upstream_auth)
    return Deps(
        config=config,
        service=service,
        registry=registry,
        auth=auth,
        prices=prices,
        catalog=catalog,
        metrics=metrics,
        clock=clock,
        ops=OpsGuard(config, auth=auth, token=ops_token),
        sync=sync,
        limiter=build_limiter(config, clock=clock, metrics=metrics, store=limits_store),
    )
