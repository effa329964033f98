"""What the health store holds (SPEC §6): one `Observation` per (upstream, observing region)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Observation:
    """One item of the health table: what `region` has seen of `upstream_id`.

    Every field but the two keys is optional: each writer sets only its own attributes.
    Times are epoch seconds.
    """

    upstream_id: str
    region: str
    state: str | None = None  # closed | open | half_open
    open_until: float | None = None
    state_changed_at: float | None = None
    last_error: str | None = None
    requests: int = 0
    errors: int = 0
    retries: int = 0  # of `requests`, how many were a retry or failover
    latency_ewma_ms: float | None = None
    updated_at: float | None = None
    probe_ok: bool | None = None
    probe_latency_ms: float | None = None
    probed_at: float | None = None
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A breaker transition, written at once: `SET state, open_until, state_changed_at, last_error`."""

    upstream_id: str
    state: str
    open_until: float
    changed_at: float
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Counters:
    """A periodic flush: `ADD requests, errors, retries` and `SET latency_ewma_ms, updated_at`."""

    upstream_id: str
    requests: int
    errors: int
    latency_ewma_ms: float | None
    updated_at: float
    retries: int = 0


@dataclass(frozen=True, slots=True)
class Probe:
    """A health-checker result: `SET probe_ok, probe_latency_ms, probed_at`."""

    upstream_id: str
    ok: bool
    latency_ms: float | None
    probed_at: float
