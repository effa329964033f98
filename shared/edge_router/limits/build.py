"""`build_limiter`: the `Limiter` a config needs (keys mode only), built once per container."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..clock import Clock
from ..config import Config
from ..observability import Metrics
from .limiter import Limiter
from .memory import MemoryLimitsStore
from .store import LimitsStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def limits_store(
    config: Config,
    *,
    client: DynamoDBClient | None,
    wall: Callable[[], float],
    on_call: Callable[[str], None] | None = None,
) -> LimitsStore:
    """The DynamoDB store on `client` (the container's one client, shared with the health
    store), or the memory store when there is none."""
    if client is None:
        return MemoryLimitsStore(config.region, wall=wall)
    from .dynamodb import DynamoLimitsStore

    return DynamoLimitsStore(config.region, table=config.health.table, client=client,
                             wall=wall, on_call=on_call)


def build_limiter(
    config: Config,
    *,
    clock: Clock,
    metrics: Metrics,
    store: LimitsStore | None = None,
) -> Limiter | None:
    """None in passthrough mode (no router keys, nothing to limit); else a `Limiter` over
    `store` (default: memory). Cadence and bound are the health store's (§6)."""
    if config.auth.mode != "keys":
        return None
    return Limiter(
        store or MemoryLimitsStore(config.region, wall=clock.wall),
        regions=(*config.home, config.region),
        interval_s=config.health.sync_interval_s,
        timeout_s=config.health.timeout_ms / 1000.0,
        clock=clock,
        metrics=metrics,
    )
