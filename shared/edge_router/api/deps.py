"""Everything the routes need, built once by a composition root (CLI `serve`, Lambda handler)."""

from __future__ import annotations

from dataclasses import dataclass

from ..auth import Authenticator
from ..catalog import ModelCatalog
from ..clock import Clock
from ..config import Config
from ..health.sync import HealthSync
from ..limits.limiter import Limiter
from ..observability import Metrics
from ..pricing import PriceBook
from ..registry import UpstreamRegistry
from ..service import RouterService
from .ops_auth import OpsGuard


@dataclass(frozen=True, slots=True)
class Deps:
    config: Config
    service: RouterService
    registry: UpstreamRegistry
    auth: Authenticator
    prices: PriceBook
    catalog: ModelCatalog
    metrics: Metrics
    clock: Clock
    ops: OpsGuard
    sync: HealthSync | None = None
    limiter: Limiter | None = None  # keys mode: per-key limits and usage (SPEC §13)
