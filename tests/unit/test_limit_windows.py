"""The window arithmetic of per-key limits (SPEC §13): ids, sort keys, TTLs, the verdict and the
x-ratelimit-* headers, all from a given `now`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from edge_router.limits import windows as w
from edge_router.limits.windows import KeyLimits, Refusal, Usage


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_window_ids_are_utc_and_sort_as_text() -> None:
    now = at("2026-11-29T18:21:42.5")
    assert (w.minute_id(now), w.day_id(now), w.month_id(now)) == (
        "2026-11-29T18:21", "2026-11-29", "2026-11")
    assert w.minute_end(now) == at("2026-11-29T18:22:00")
    assert w.reset_s(now) == pytest.approx(17.5)
    assert w.minute_id(at("2026-11-29T18:21:59.999")) < w.minute_id(at("2026-11-29T18:22:00"))


@pytest.mark.parametrize(("now", "end"), [
    ("2026-11-29T18:21:00", "2026-12-01T00:00:00"),
    ("2026-12-31T23:59:59", "2027-01-01T00:00:00"),
    ("2028-02-29T12:00:00", "2028-03-01T00:00:00"),
    ("2026-01-01T00:00:00", "2026-02-01T00:00:00"),
])
def test_the_month_ends_at_the_next_first_of_the_month(now: str, end: str) -> None:
    assert w.month_end(at(now)) == at(end)


def test_items_expire_after_their_window() -> None:
    now = at("2026-11-29T18:21:42")
    assert w.minute_expires_at(now) == at("2026-11-29T18:22:00") + 3600
    assert w.month_expires_at(now) == at("2026-12-01T00:00:00") + 31 * 86400
    assert w.day_expires_at(now) > now + 365 * 86400


def test_sort_keys_and_parsing_a_day_item() -> None:
    assert w.minute_sk("2026-11-29T18:21", "us-east-1") == "min#2026-11-29T18:21#us-east-1"
    assert w.month_sk("2026-11", "eu-central-1") == "month#2026-11#eu-central-1"
    sk = w.day_sk("2026-11-29", "openai/gpt#4.1", "ap-northeast-2")
    assert sk == "day#2026-11-29#openai/gpt#4.1#ap-northeast-2"
    assert w.parse_day_sk(sk) == ("2026-11-29", "openai/gpt#4.1", "ap-northeast-2")
    assert w.parse_day_sk("month#2026-11#us-east-1") is None
    assert w.parse_day_sk("day#2026-11-29") is None


def test_limits_zero_means_unlimited() -> None:
    assert not KeyLimits().any
    assert KeyLimits(rpm=1).windowed and KeyLimits(tpm=1).windowed
    assert KeyLimits(budget_usd=Decimal("0.01")).any
    assert not KeyLimits(budget_usd=Decimal("0.01")).windowed


@pytest.mark.parametrize(("limits", "used", "refusal"), [
    (KeyLimits(rpm=10), Usage(requests=9), None),
    (KeyLimits(rpm=10), Usage(requests=10), Refusal.REQUESTS),
    (KeyLimits(tpm=100), Usage(requests=50, tokens=99), None),
    (KeyLimits(tpm=100), Usage(tokens=100), Refusal.TOKENS),
    (KeyLimits(rpm=10, tpm=100), Usage(requests=10, tokens=100), Refusal.REQUESTS),
    (KeyLimits(budget_usd=Decimal(1)), Usage(spent_usd=Decimal("0.9999")), None),
    (KeyLimits(budget_usd=Decimal(1)), Usage(spent_usd=Decimal("1.0")), Refusal.BUDGET),
    # a spent budget wins over a full minute: waiting would not help
    (KeyLimits(rpm=1, budget_usd=Decimal(1)), Usage(requests=5, spent_usd=Decimal(2)),
     Refusal.BUDGET),
    (KeyLimits(), Usage(requests=10**6, tokens=10**9, spent_usd=Decimal(10**6)), None),
])
def test_verdict(limits: KeyLimits, used: Usage, refusal: Refusal | None) -> None:
    assert w.verdict(limits, used) is refusal


def test_caps_leave_room_for_what_the_other_regions_used() -> None:
    assert w.request_cap(KeyLimits(rpm=10), others=3) == 7
    assert w.request_cap(KeyLimits(rpm=10), others=12) == -2
    assert w.request_cap(KeyLimits(tpm=10), others=3) is None
    assert w.token_cap(KeyLimits(tpm=1000), others=400) == 600


@pytest.mark.parametrize(("seconds", "text"), [
    (0.25, "250ms"), (1, "1s"), (17.2, "18s"), (59.5, "1m0s"), (60, "1m0s"), (61, "1m1s"),
    (0, "0ms"),
])
def test_reset_uses_openais_duration_format(seconds: float, text: str) -> None:
    assert w.format_reset(seconds) == text


def test_rate_headers_for_each_limit_the_key_has() -> None:
    now = at("2026-11-29T18:21:48")
    both = dict(w.rate_headers(KeyLimits(rpm=10, tpm=1000), Usage(requests=4, tokens=1200), now))
    assert both == {
        b"x-ratelimit-limit-requests": b"10", b"x-ratelimit-remaining-requests": b"6",
        b"x-ratelimit-reset-requests": b"12s",
        b"x-ratelimit-limit-tokens": b"1000", b"x-ratelimit-remaining-tokens": b"0",
        b"x-ratelimit-reset-tokens": b"12s",
    }
    only_rpm = dict(w.rate_headers(KeyLimits(rpm=10), Usage(requests=4), now))
    assert set(only_rpm) == {b"x-ratelimit-limit-requests", b"x-ratelimit-remaining-requests",
                             b"x-ratelimit-reset-requests"}
    assert w.rate_headers(KeyLimits(budget_usd=Decimal(5)), Usage(), now) == []
