"""The in-memory health store: the local default, and the reference for the contract tests.

Items are shared by every `MemoryHealthStore` built on one `MemoryTable`, so a test can put two
"regions" on one table exactly as two Lambdas share one global table.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

from .records import Counters, Observation, Probe, Transition
from .store import TTL_S


class MemoryTable:
    """Items keyed by (upstream_id, region), as the DynamoDB table keys them."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Observation] = {}


class MemoryHealthStore:
    def __init__(
        self,
        region: str,
        *,
        table: MemoryTable | None = None,
        wall: Callable[[], float] | None = None,
    ) -> None:
        self.region = region
        self.table = table or MemoryTable()
        self._wall = wall or time.time

    def _update(self, upstream_id: str, **changes: object) -> None:
        key = (upstream_id, self.region)
        item = self.table.items.get(key) or Observation(upstream_id=upstream_id, region=self.region)
        self.table.items[key] = dataclasses.replace(
            item, expires_at=self._wall() + TTL_S, **changes  # type: ignore[arg-type]
        )

    async def write_transition(self, transition: Transition) -> None:
        self._update(
            transition.upstream_id,
            state=transition.state,
            open_until=transition.open_until,
            state_changed_at=transition.changed_at,
            last_error=transition.last_error,
        )

    async def write_counters(self, counters: Sequence[Counters]) -> None:
        for c in counters:
            item = self.table.items.get((c.upstream_id, self.region))
            requests = (item.requests if item else 0) + c.requests
            errors = (item.errors if item else 0) + c.errors
            self._update(
                c.upstream_id,
                requests=requests,
                errors=errors,
                retries=(item.retries if item else 0) + c.retries,
                latency_ewma_ms=c.latency_ewma_ms,
                updated_at=c.updated_at,
            )

    async def write_probes(self, probes: Sequence[Probe]) -> None:
        for p in probes:
            self._update(
                p.upstream_id, probe_ok=p.ok, probe_latency_ms=p.latency_ms, probed_at=p.probed_at
            )

    async def read(self, upstream_ids: Sequence[str], regions: Sequence[str]) -> list[Observation]:
        now = self._wall()
        return [
            item
            for u in upstream_ids
            for r in regions
            if (item := self.table.items.get((u, r))) is not None
            and (item.expires_at is None or item.expires_at > now)
        ]

    async def close(self) -> None:
        return None
