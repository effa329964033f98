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


# -- rate-limit marks (SPEC §5, issue 11 findings 2 and 3) ------------------------------------
def _limited(reg: UpstreamRegistry, now: float, scope: str | None = None) -> dict[str, float]:
    return {c.id: c.rate_limited_until
            for c in reg.candidates(reg.serving("gpt-4.1"), now, scope=scope)}


def test_a_newer_mark_replaces_the_old_one_rather_than_extending_it() -> None:
    reg = registry()
    reg.mark_rate_limited("us-east", T0 + 300, now=T0)
    reg.mark_rate_limited("us-east", T0 + 2, now=T0)
    assert _limited(reg, T0)["us-east"] == T0 + 2
    reg.mark_rate_limited("us-east", T0 + 300, now=T0, scope="Bearer sk-a")
    reg.mark_rate_limited("us-east", T0 + 5, now=T0, scope="Bearer sk-a")
    assert _limited(reg, T0, "Bearer sk-a")["us-east"] == T0 + 5


def test_a_credential_mark_covers_only_that_credential() -> None:
    reg = registry()
    reg.mark_rate_limited("us-east", T0 + 30, now=T0, scope="Bearer sk-a")
    assert _limited(reg, T0, "Bearer sk-a")["us-east"] == T0 + 30
    assert _limited(reg, T0, "Bearer sk-b")["us-east"] == 0.0
    assert _limited(reg, T0)["us-east"] == 0.0
    assert reg.scoped_marks("us-east", T0) == 1
    assert reg.scoped_marks("us-east", T0 + 31) == 0
    reg.mark_rate_limited("us-west", T0 + 10, now=T0)  # upstream-wide covers every credential
    assert _limited(reg, T0, "Bearer sk-b")["us-west"] == T0 + 10


def test_credential_marks_are_bounded_and_expired_ones_go_first() -> None:
    from edge_router.registry import MAX_SCOPED_MARKS

    reg = registry()
    for i in range(MAX_SCOPED_MARKS + 500):
        reg.mark_rate_limited("us-east", T0 + 60, now=T0, scope=f"Bearer sk-{i}")
    assert reg.scoped_marks("us-east", T0) == MAX_SCOPED_MARKS
    assert _limited(reg, T0, "Bearer sk-0")["us-east"] == 0.0  # the oldest was forgotten
    assert _limited(reg, T0, f"Bearer sk-{MAX_SCOPED_MARKS + 499}")["us-east"] == T0 + 60
    reg.mark_rate_limited("us-east", T0 + 200, now=T0 + 100, scope="Bearer sk-new")
    assert reg.scoped_marks("us-east", T0 + 100) == 1  # every expired mark was dropped
