"""The health-checker Lambda (SPEC §6): every minute, probe every upstream and share the result.

Each run probes every upstream concurrently (`probe.probe_all`: `GET {base_url}/models`, the
upstream key as Bearer token when one is configured, 5 s timeout, any answer below 500 =
reachable), writes this region's probe attributes (`probe_ok`, `probe_latency_ms`, `probed_at`
on the `upstream#<id>` / `observer#<region>` items: the only items its IAM role may touch), and
emits `UpstreamAvailable` (1/0) and `ProbeLatency` (reachable probes only) per Region+Upstream.

Routers read those items: a `probe_ok: true` newer than a local opening closes a half-open
breaker, a probe latency seeds an unmeasured upstream's EWMA, and `/health` answers 503 when
every upstream's probe failed within the last 3 minutes.

`functions/health_checker/handler.py` is only `handler = build_health_checker(os.environ)`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from ..clock import Clock
from ..config import Config
from ..health.records import Probe
from ..health.store import HealthStore, HealthStoreError
from ..keys.build import build_upstream_keys
from ..keys.upstream import UpstreamKeys
from ..observability import PROBE_LATENCY, UPSTREAM_AVAILABLE
from ..probe import ProbeResult, probe_all
from . import snapstart
from .container import ContainerLoop, open_container
from .emf import EmfMetrics

__all__ = ["PROBE_TIMEOUT_S", "HealthChecker", "build_health_checker"]

log = logging.getLogger(__name__)

#: SPEC §6: a probe without an answer within 5 s counts as unreachable.
PROBE_TIMEOUT_S = 5.0
#: Bound on writing the probe items (the store's own calls time out within 1 s each).
WRITE_TIMEOUT_S = 5.0


class HealthChecker:
    """Probes and records; one per container. The aiohttp session lives on the container's
    loop and is reused by warm invocations."""

    def __init__(
        self,
        config: Config,
        *,
        store: HealthStore,
        metrics: EmfMetrics,
        loop: ContainerLoop,
        clock: Clock,
        logger: Logger,
        upstream_key: Callable[[str], str | None] | None = None,
        timeout_s: float = PROBE_TIMEOUT_S,
    ) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.loop = loop
        self.clock = clock
        self.upstream_key = upstream_key
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._invoke: Callable[[dict[str, Any], Any], dict[str, Any]] = (
            logger.inject_lambda_context(self._run, correlation_id_path=correlation_paths.EVENT_BRIDGE)
        )

    def _keys(self) -> Mapping[str, str | None]:
        if self.upstream_key is None:
            return {}
        return {u.id: self.upstream_key(u.id) for u in self.config.upstreams}

    async def check(self) -> list[ProbeResult]:
        """Probe every upstream once, write this region's items, buffer the metrics.

        Raises `HealthStoreError` (after the metrics are buffered) if the items could not be
        written, so the failure shows in the function's own error metric.
        """
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        results = await probe_all(
            self._session, self.config.upstreams, keys=self._keys(), timeout_s=self.timeout_s,
            now=self.clock.monotonic,
        )
        probed_at = self.clock.wall()
        for r in results:
            self.metrics.event(UPSTREAM_AVAILABLE, upstream=r.upstream_id, value=int(r.ok))
            if r.ok:
                self.metrics.event(PROBE_LATENCY, upstream=r.upstream_id,
                                   value=round(r.latency_ms, 3))
        probes = [
            Probe(r.upstream_id, r.ok, round(r.latency_ms, 3) if r.ok else None, probed_at)
            for r in results
        ]
        try:
            await asyncio.wait_for(self.store.write_probes(probes), WRITE_TIMEOUT_S)
        except TimeoutError as exc:
            raise HealthStoreError("writing the probe items timed out") from exc
        return results

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """`handler(event, context)`, logging with the EventBridge event id as correlation id."""
        return self._invoke(event, context)

    def _run(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            results = self.loop.run(self.check())
        except HealthStoreError as exc:
            log.error("probe results not stored: %s", exc)
            raise
        finally:
            self.metrics.flush()
        for r in results:
            if not r.ok:
                log.warning("upstream %s unreachable: %s", r.upstream_id, r.detail)
        return {
            "region": self.config.region,
            "upstreams": {
                r.upstream_id: {"ok": r.ok, "latency_ms": round(r.latency_ms, 3),
                                "status": r.status, "error": r.error}
                for r in results
            },
        }

    def after_restore(self) -> None:
        """SnapStart: no probe connection (or DNS entry) from the snapshot."""
        if self._session is not None:
            self.loop.run(self._session.close())
            self._session = None

    def close(self) -> None:
        """Release the session, the store and the loop (tests)."""
        if self.loop.loop.is_closed():
            return
        if self._session is not None:
            self.loop.run(self._session.close())
        self.loop.run(self.store.close())
        self.loop.close()


def build_health_checker(
    environ: Mapping[str, str] | None = None,
    *,
    clock: Clock | None = None,
    on_store_call: Callable[[str], None] | None = None,
    write_metrics: Callable[[str], object] | None = None,
    upstream_key: Callable[[str], str | None] | None = None,
) -> HealthChecker:
    """The health-checker handler, built from the environment like the router's (SPEC §8).

    In keys mode the probes carry the upstream keys the router would send
    (`keys.build.build_upstream_keys`); `upstream_key(upstream_id)` replaces that provider
    (None: no Authorization header). The other hooks are those of `build_router_handler`.
    """
    environ = os.environ if environ is None else environ
    c = open_container(environ, clock=clock, on_store_call=on_store_call,
                       write_metrics=write_metrics)
    snapshot = snapstart.snapshot_init(environ)  # then secrets are read after the restore
    keys: UpstreamKeys | None = None
    if upstream_key is None and c.config.auth.mode == "keys":
        upstream_key = keys = build_upstream_keys(c.config, environ, check=not snapshot)
    checker = HealthChecker(
        c.config,
        store=c.store,
        metrics=c.metrics,
        loop=ContainerLoop(),
        clock=c.clock,
        logger=c.logger,
        upstream_key=upstream_key,
    )
    after_restore: list[snapstart.Hook] = [checker.after_restore]
    if snapshot and keys is not None:
        after_restore.append(keys.check)
    snapstart.register(before_snapshot=[], after_restore=after_restore)
    return checker
