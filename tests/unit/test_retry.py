"""Backoff, retry-after parsing and the retry budget (SPEC §5)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from edge_router.routing.retry import RetryBudget, full_jitter, retry_after_s

NOW = 1_700_000_000.0


def test_full_jitter_stays_within_the_capped_exponential() -> None:
    rng = random.Random(0)
    for repeat, ceiling in [(0, 0.1), (1, 0.2), (3, 0.8), (10, 2.0)]:
        samples = [full_jitter(repeat, base_s=0.1, cap_s=2.0, rng=rng) for _ in range(500)]
        assert all(0 <= s < ceiling for s in samples)
        assert max(samples) > ceiling * 0.9  # full jitter: spread across the whole range


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"retry-after-ms": "1500"}, None, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, None, 0.25),
        ({"retry-after": "3"}, None, 3.0),
        ({"retry-after": "0.5"}, None, 0.5),
        ({}, {"error": {"retry_after": 4}}, 4.0),
        ({}, None, 1.0),
        ({"retry-after": "soon"}, None, 1.0),
        ({"retry-after": "-3"}, None, 1.0),
        ({}, {"error": {"retry_after": True}}, 1.0),
    ],
)
def test_retry_after_sources(headers: dict[str, str], body: object, expected: float) -> None:
    assert retry_after_s(headers, body, now=NOW) == pytest.approx(expected)


def test_retry_after_http_date() -> None:
    when = datetime.fromtimestamp(NOW + 7, tz=UTC)
    assert retry_after_s({"retry-after": format_datetime(when, usegmt=True)}, None, now=NOW) == (
        pytest.approx(7.0, abs=1.0)
    )


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        # clamped to routing.retry_after_cap_s (300 by default)
        ({"retry-after": "1000000000"}, None, 300.0),
        ({"retry-after-ms": "9" * 400}, None, 300.0),  # float() of it is inf: still the cap
        ({"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}, None, 300.0),
        ({}, {"error": {"retry_after": 1e308}}, 300.0),
        # ASCII digits only: float() would take all of these
        ({"retry-after": "1e308"}, None, 1.0),
        ({"retry-after": "1_000"}, None, 1.0),
        ({"retry-after": "\u0661\u0662"}, None, 1.0),  # Arabic-Indic digits
        ({"retry-after": "\uff13"}, None, 1.0),  # fullwidth 3
        ({"retry-after": "inf"}, None, 1.0),
        ({"retry-after": "nan"}, None, 1.0),
        ({"retry-after": " 7 "}, None, 7.0),
        ({"retry-after": "1e3", "retry-after-ms": "+5"}, {"error": {"retry_after": 2}}, 2.0),
    ],
)
def test_retry_after_is_ascii_and_clamped(
    headers: dict[str, str], body: object, expected: float
) -> None:
    assert retry_after_s(headers, body, now=NOW) == pytest.approx(expected)


def test_retry_after_cap_is_configurable() -> None:
    assert retry_after_s({"retry-after": "90"}, None, now=NOW, cap_s=60.0) == 60.0
    assert retry_after_s({"retry-after": "90"}, None, now=NOW, cap_s=0.0) == 0.0


def test_budget_allows_the_minimum_rate_at_low_traffic() -> None:
    budget = RetryBudget(ratio=0.2, min_per_s=1, window_s=10)
    # 3 requests in the window: 20 % would be 0.6, but the floor of 1/s x 10 s allows 10
    for _ in range(3):
        budget.record_request(NOW)
    assert sum(budget.try_spend(NOW) for _ in range(15)) == 10


def test_budget_caps_retries_at_the_ratio_under_load() -> None:
    budget = RetryBudget(ratio=0.2, min_per_s=1, window_s=10)
    for _ in range(1000):
        budget.record_request(NOW)
    assert sum(budget.try_spend(NOW) for _ in range(1000)) == 200


def test_budget_window_slides() -> None:
    budget = RetryBudget(ratio=0.0, min_per_s=1, window_s=10)
    assert sum(budget.try_spend(NOW) for _ in range(20)) == 10
    assert not budget.try_spend(NOW + 9.5)
    assert budget.try_spend(NOW + 10.5)  # the first second's retries left the window


# ---------------------------------------------------------------- region-wide (SPEC §14)


def test_a_region_of_one_request_containers_is_held_to_the_ratio() -> None:
    """One container of many: its own 1 request would leave it the floor (10 retries); the
    region's counters say 1,000 requests already took 200 retries, so it gets none."""
    budget = RetryBudget(ratio=0.2, min_per_s=1, window_s=10)
    budget.record_request(NOW)
    budget.record_region(NOW, requests=1000, retries=200)
    assert not budget.try_spend(NOW)
    alone = RetryBudget(ratio=0.2, min_per_s=1, window_s=10)
    alone.record_request(NOW)
    assert alone.try_spend(NOW)


def test_region_counts_leave_room_for_the_ratio_of_the_regions_requests() -> None:
    budget = RetryBudget(ratio=0.2, min_per_s=1, window_s=10)
    budget.record_region(NOW, requests=1000, retries=150)
    assert sum(budget.try_spend(NOW) for _ in range(100)) == 50


def test_a_lone_container_in_a_quiet_region_keeps_the_floor() -> None:
    budget = RetryBudget(ratio=0.2, min_per_s=1, window_s=10)
    budget.record_region(NOW, requests=3, retries=0)
    assert sum(budget.try_spend(NOW) for _ in range(15)) == 10


def test_the_regions_counts_add_to_the_containers_own() -> None:
    budget = RetryBudget(ratio=0.5, min_per_s=0, window_s=10)
    for _ in range(100):
        budget.record_request(NOW)
    budget.record_region(NOW, requests=100, retries=40)
    assert budget.totals(NOW) == (200, 40)
    assert sum(budget.try_spend(NOW) for _ in range(100)) == 60


def test_region_counts_leave_the_window_too() -> None:
    budget = RetryBudget(ratio=0.2, min_per_s=0.1, window_s=10)
    budget.record_region(NOW, requests=1000, retries=200)
    assert not budget.try_spend(NOW + 5)
    assert budget.try_spend(NOW + 10.5)  # 1 retry: the floor, the region's counts are gone
