"""The registry's Peak-EWMA bookkeeping: peaks count at once, idle estimates decay with time."""

from __future__ import annotations

import pytest

from edge_router.config import build_config
from edge_router.registry import DECAY_TAU_S, UpstreamRegistry
from edge_router.routing.breaker import Policy
from edge_router.routing.ranking import order

T0 = 1_000.0


def registry() -> UpstreamRegistry:
    return UpstreamRegistry(build_config({}), policy=Policy())


def test_a_peak_replaces_the_estimate_and_calm_decays_slowly() -> None:
    s = registry().states["us-east"]
    s.observe_latency(50.0, T0)
    s.observe_latency(400.0, T0)
    assert s.latency_ewma_ms == 400.0
    s.observe_latency(100.0, T0)
    assert s.latency_ewma_ms == pytest.approx(0.7 * 400 + 0.3 * 100)


def test_an_idle_estimate_decays_so_a_recovered_upstream_is_tried_again() -> None:
    reg = registry()
    states = reg.serving("gpt-4.1")
    for s in states:
        s.observe_latency(60.0, T0)
    reg.states["ap-northeast"].observe_latency(2_000.0, T0)  # home was slow
    # GIVEN the others keep taking fresh samples, WHEN time passes with home left alone
    def ranked(now: float) -> list[str]:
        for s in states:
            if s.upstream.id != "ap-northeast":
                s.observe_latency(60.0, now)
        return order("latency", reg.candidates(states, now), now=now)

    assert ranked(T0 + 1)[-1] == "ap-northeast"
    # THEN its estimate falls below the others' within a few time constants and it gets a try
    assert ranked(T0 + 4 * DECAY_TAU_S)[0] == "ap-northeast"
    candidate = next(c for c in reg.candidates(states, T0 + DECAY_TAU_S) if c.id == "ap-northeast")
    assert candidate.latency_ms == pytest.approx(2_000.0 / 2.718281828, rel=1e-6)
