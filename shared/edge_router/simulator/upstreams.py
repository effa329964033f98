"""What a simulated upstream is: its id, models, starting fault and latency profile."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from .faults import parse_fault

__all__ = [
    "DEFAULT_MODELS",
    "REGION_IDS",
    "Profile",
    "UpstreamSpec",
    "default_specs",
    "latency_range_ms",
    "upstream_ids",
]

Profile = Literal["seed", "fast"]

#: HolySheep's relay regions, in the order the simulator hands them out.
REGION_IDS = ("ap-northeast", "ap-southeast", "us-west", "us-east", "eu-central")

#: Latency before the headers, per region, from the seed tutorial's table (ms, uniform).
SEED_LATENCY_MS: Mapping[str, tuple[float, float]] = {
    "ap-northeast": (45.0, 80.0),
    "ap-southeast": (55.0, 90.0),
    "us-west": (55.0, 90.0),
    "us-east": (40.0, 70.0),
    "eu-central": (50.0, 85.0),
}
OTHER_LATENCY_MS = (50.0, 90.0)

DEFAULT_MODELS = (
    "gpt-4.1",
    "claude-sonnet-4.5",
    "gemini-2.5-flash",
    "deepseek-v3.2",
    "text-embedding-3-small",
)


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    """One upstream to simulate. `latency_ms` overrides the profile's range when given."""

    id: str
    models: tuple[str, ...] = DEFAULT_MODELS
    fault: str = "ok"
    latency_ms: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        parse_fault(self.fault)  # fail at construction, not at start


def upstream_ids(count: int) -> list[str]:
    """`count` ids: the five regions first, then upstream-6, upstream-7, ..."""
    if count < 1:
        raise ValueError("at least one upstream is required")
    return [REGION_IDS[i] if i < len(REGION_IDS) else f"upstream-{i + 1}" for i in range(count)]


def default_specs(
    count: int,
    *,
    faults: Mapping[str, str] | None = None,
    models: Mapping[str, Sequence[str]] | None = None,
) -> list[UpstreamSpec]:
    """Specs for `count` upstreams; `faults` and `models` are keyed by id (``*`` = every one)."""
    ids = upstream_ids(count)
    faults = dict(faults or {})
    models = dict(models or {})
    for key in (*faults, *models):
        if key != "*" and key not in ids:
            raise ValueError(f"unknown upstream id {key!r}; simulated: {', '.join(ids)}")
    return [
        UpstreamSpec(
            id=upstream_id,
            models=tuple(models.get(upstream_id, models.get("*", DEFAULT_MODELS))),
            fault=faults.get(upstream_id, faults.get("*", "ok")),
        )
        for upstream_id in ids
    ]


def latency_range_ms(spec: UpstreamSpec, profile: Profile) -> tuple[float, float] | None:
    """The (low, high) wait before headers for this upstream, or None for no wait."""
    if spec.latency_ms is not None:
        return spec.latency_ms
    if profile == "fast":
        return None
    return SEED_LATENCY_MS.get(spec.id, OTHER_LATENCY_MS)
