"""Candidate order (SPEC §5) for the three strategies."""

from __future__ import annotations

from collections import Counter

from edge_router.routing.ranking import (
    Candidate,
    failover_order,
    latency_order,
    next_choice,
    order,
    smooth_weighted_pick,
)

NOW = 1_000.0
IDS = ["ap-northeast", "ap-southeast", "us-west", "us-east", "eu-central"]
FALLBACKS = {
    "ap-northeast": ["ap-southeast", "us-west"],
    "ap-southeast": ["ap-northeast", "us-west"],
    "us-west": ["us-east", "eu-central"],
    "us-east": ["us-west", "eu-central"],
    "eu-central": ["us-east", "ap-southeast"],
}


def cands(**overrides: dict[str, object]) -> list[Candidate]:
    return [
        Candidate(**{"id": i, "priority": p, "usable": True, **overrides.get(i.replace("-", "_"), {})})  # type: ignore[arg-type]
        for p, i in enumerate(IDS)
    ]


def test_failover_order_is_home_then_fallbacks_then_priority() -> None:
    assert failover_order(IDS, FALLBACKS, "eu-central") == (
        "eu-central", "us-east", "ap-southeast", "ap-northeast", "us-west",
    )
    assert failover_order(IDS, FALLBACKS, None) == (
        "ap-northeast", "ap-southeast", "us-west", "us-east", "eu-central",
    )


def test_open_and_rate_limited_are_skipped_remote_open_goes_last() -> None:
    fo = failover_order(IDS, FALLBACKS, "us-east")
    ranked = order(
        "failover",
        cands(us_east={"usable": False}, us_west={"rate_limited_until": NOW + 5},
              eu_central={"remote_open": True}),
        now=NOW, failover=fo,
    )
    assert ranked == ["ap-northeast", "ap-southeast", "eu-central"]


def test_expired_rate_limit_mark_no_longer_skips() -> None:
    ranked = order("failover", cands(ap_northeast={"rate_limited_until": NOW}), now=NOW,
                   failover=failover_order(IDS, FALLBACKS, None))
    assert ranked[0] == "ap-northeast"


def test_latency_prefers_lowest_estimate_times_in_flight() -> None:
    c = cands(
        ap_northeast={"latency_ms": 50.0, "in_flight": 3},  # cost 200
        ap_southeast={"latency_ms": 80.0},  # cost 80
        us_west={"latency_ms": 60.0, "in_flight": 1},  # cost 120
        us_east={"latency_ms": 70.0},  # cost 70
        eu_central={"latency_ms": 300.0},
    )
    assert [x.id for x in latency_order(c)] == [
        "us-east", "ap-southeast", "us-west", "ap-northeast", "eu-central",
    ]


def test_unmeasured_costs_the_largest_measured_estimate() -> None:
    c = cands(ap_northeast={"latency_ms": 40.0}, ap_southeast={"latency_ms": 90.0})
    ranked = [x.id for x in latency_order(c)]
    # unmeasured ones cost 90 (tie with ap-southeast, broken by priority)
    assert ranked == ["ap-northeast", "ap-southeast", "us-west", "us-east", "eu-central"]
    only_unmeasured = latency_order(cands())
    assert [x.id for x in only_unmeasured] == IDS


def test_an_old_request_in_flight_counts_as_a_sample_of_its_age() -> None:
    c = cands(ap_northeast={"latency_ms": 40.0, "in_flight": 1, "oldest_in_flight_ms": 5_000.0},
              ap_southeast={"latency_ms": 90.0})
    assert latency_order(c)[0].id == "ap-southeast"


def test_smooth_weighted_round_robin_matches_nginx() -> None:
    weights = {"a": 5, "b": 1, "c": 1}
    current: dict[str, int] = {}
    picks = []
    for _ in range(7):
        pick, current = smooth_weighted_pick(weights, current)
        picks.append(pick)
    assert picks == ["a", "a", "b", "a", "c", "a", "a"]  # nginx's documented sequence


def test_weighted_share_follows_weights_over_many_picks() -> None:
    weights = {"ap-northeast": 10, "ap-southeast": 8, "us-west": 5, "us-east": 6, "eu-central": 7}
    current: dict[str, int] = {}
    counts: Counter[str] = Counter()
    for _ in range(360):
        pick, current = smooth_weighted_pick(weights, current)
        assert pick is not None
        counts[pick] += 1
    assert counts == {k: w * 10 for k, w in weights.items()}


def test_weighted_first_then_priority() -> None:
    ranked = order("weighted", cands(), now=NOW, weighted_first="us-east")
    assert ranked == ["us-east", "ap-northeast", "ap-southeast", "us-west", "eu-central"]


def test_next_choice_retries_an_upstream_only_after_every_other() -> None:
    assert next_choice(["a", "b", "c"], {}) == ("a", 0)
    assert next_choice(["a", "b", "c"], {"a": 1}) == ("b", 0)
    assert next_choice(["a", "b"], {"a": 1, "b": 1}) == ("a", 1)
    assert next_choice(["a", "b"], {"a": 2, "b": 1}) == ("b", 1)
