"""Probe statistics on known inputs: nearest-rank percentiles, counts, status."""

from __future__ import annotations

import pytest

from edge_router.probe import ProbeResult, percentile, summarise


def ok(upstream_id: str, ms: float) -> ProbeResult:
    return ProbeResult(upstream_id, True, ms, 200)


def failed(upstream_id: str, error: str, detail: str, ms: float = 1.0) -> ProbeResult:
    return ProbeResult(upstream_id, False, ms, None, error, detail)


@pytest.mark.parametrize(
    ("values", "p50", "p95"),
    [
        ([42.0], 42.0, 42.0),
        ([10.0, 20.0], 10.0, 20.0),
        ([10.0, 20.0, 30.0, 40.0], 20.0, 40.0),
        ([10.0, 20.0, 30.0, 40.0, 50.0], 30.0, 50.0),
        ([float(v) for v in range(1, 21)], 10.0, 19.0),  # ceil(0.95 x 20) = 19th
        ([float(v) for v in range(1, 101)], 50.0, 95.0),
        ([float(v) for v in range(1, 102)], 51.0, 96.0),  # ceil(50.5) = 51st, ceil(95.95) = 96th
    ],
)
def test_nearest_rank_percentiles(values: list[float], p50: float, p95: float) -> None:
    assert percentile(values, 50) == p50
    assert percentile(values, 95) == p95
    assert percentile(values, 100) == values[-1]


def test_percentile_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 0)


def test_summarise_counts_and_latency_of_reachable_probes_only() -> None:
    # GIVEN probes given out of order: the stats must not depend on it
    results = [
        ok("seoul", 50.0),
        failed("virginia", "connect", "connection refused"),
        ok("seoul", 10.0),
        ok("seoul", 40.0),
        failed("seoul", "timeout", "no answer within 5 s", ms=5000.0),
        ok("seoul", 30.0),
        ok("seoul", 20.0),
        failed("virginia", "connect", "connection refused"),
        ok("frankfurt", 80.0),
        failed("frankfurt", "http_503", "HTTP 503"),
        failed("frankfurt", "timeout", "no answer within 5 s"),
        failed("frankfurt", "http_503", "HTTP 503"),
    ]
    stats = summarise(results)
    assert list(stats) == ["seoul", "virginia", "frankfurt"]
    seoul = stats["seoul"]
    # THEN the 5,000 ms timeout is an error, not a latency sample
    assert (seoul.min_ms, seoul.avg_ms, seoul.p50_ms, seoul.p95_ms) == (10.0, 30.0, 30.0, 50.0)
    assert (seoul.probes, seoul.ok, seoul.errors, seoul.status) == (6, 5, 1, "degraded")
    assert seoul.latencies_ms == (50.0, 10.0, 40.0, 30.0, 20.0)
    virginia = stats["virginia"]
    assert (virginia.status, virginia.errors, virginia.error_counts) == ("down", 2, {"connect": 2})
    assert (virginia.min_ms, virginia.avg_ms, virginia.p50_ms, virginia.p95_ms) == (None,) * 4
    assert virginia.last_error == "connection refused"
    frankfurt = stats["frankfurt"]
    assert frankfurt.error_counts == {"http_503": 2, "timeout": 1}
    assert frankfurt.main_error == "http_503"
    assert frankfurt.last_error == "HTTP 503"
    assert (frankfurt.status, frankfurt.p95_ms) == ("degraded", 80.0)


def test_all_ok_is_ok() -> None:
    stats = summarise([ok("a", 1.5), ok("a", 2.5)])["a"]
    assert (stats.status, stats.errors, stats.main_error, stats.avg_ms) == ("ok", 0, None, 2.0)
