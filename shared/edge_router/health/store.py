"""The `HealthStore` port (SPEC §6) that the memory and DynamoDB stores implement.

A store is advisory. Its methods may raise `HealthStoreError` (the only exception callers need to
catch); the caller (`health/sync.py`) bounds every call in time and fails open. Writers only ever
touch their own region's items: `region` is fixed when the store is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .records import Counters, Observation, Probe, Transition

TTL_S = 3600.0


class HealthStoreError(Exception):
    """The store could not be read or written."""


class HealthStore(Protocol):
    region: str

    async def write_transition(self, transition: Transition) -> None:
        """SET state, open_until, state_changed_at, last_error, expires_at on this region's item."""

    async def write_counters(self, counters: Sequence[Counters]) -> None:
        """ADD requests, errors; SET latency_ewma_ms, updated_at, expires_at (one item each)."""

    async def write_probes(self, probes: Sequence[Probe]) -> None:
        """SET probe_ok, probe_latency_ms, probed_at, expires_at on this region's items."""

    async def read(self, upstream_ids: Sequence[str], regions: Sequence[str]) -> list[Observation]:
        """Every existing item for these upstreams × observing regions (no Scan)."""

    async def close(self) -> None:
        """Release clients."""
