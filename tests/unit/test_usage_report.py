"""The usage report's grouping and rendering (`ops/usage.py`, SPEC §13): pure, no table."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from edge_router.limits.store import Counts
from edge_router.ops import usage
from edge_router.ops.usage import UsageRow

SINCE, UNTIL = date(2026, 11, 1), date(2026, 11, 30)
ROWS = [
    UsageRow("alice", "2026-11-28", "gpt-4.1", "us-east-1", 3, 30, 12, Decimal("0.000336")),
    UsageRow("alice", "2026-11-29", "gpt-4.1", "eu-central-1", 1, 10, 4, Decimal("0.000112")),
    UsageRow("bob", "2026-11-29", "deepseek-v3.2", "us-east-1", 5, 50, 20, Decimal("0.0000294")),
]


def test_rows_come_from_day_items_only() -> None:
    assert usage.row("alice", "day#2026-11-29#gpt-4.1#us-east-1", Counts(requests=2)) == (
        UsageRow("alice", "2026-11-29", "gpt-4.1", "us-east-1", 2))
    assert usage.row("alice", "month#2026-11#us-east-1", Counts(requests=2)) is None


def test_grouping_by_each_dimension_with_totals() -> None:
    by_key = usage.report(ROWS, by="key", since=SINCE, until=UNTIL)
    assert [(line.group, line.requests, line.tokens) for line in by_key.lines] == [
        ("alice", 4, 56), ("bob", 5, 70)]  # the biggest spender first
    assert (by_key.total.requests, by_key.total.cost_usd) == (9, Decimal("0.0004774"))
    by_day = usage.report(ROWS, by="day", since=SINCE, until=UNTIL)
    assert [(line.group, line.requests) for line in by_day.lines] == [
        ("2026-11-28", 3), ("2026-11-29", 6)]
    by_region = usage.report(ROWS, by="region", since=SINCE, until=UNTIL)
    assert [(line.group, line.requests) for line in by_region.lines] == [
        ("eu-central-1", 1), ("us-east-1", 8)]


def test_renderings_agree() -> None:
    rep = usage.report(ROWS, by="model", since=SINCE, until=UNTIL)
    table = usage.render_table(rep).splitlines()
    assert table[0] == "usage 2026-11-01 .. 2026-11-30 (UTC days) by model"
    assert table[2].split() == ["deepseek-v3.2", "5", "50", "20", "0.0000294"]
    assert table[-1].split() == ["TOTAL", "9", "90", "36", "0.0004774"]
    assert usage.render_csv(rep).splitlines() == [
        "model,requests,prompt_tokens,completion_tokens,cost_usd",
        "deepseek-v3.2,5,50,20,0.0000294",
        "gpt-4.1,4,40,16,0.000448",
        "TOTAL,9,90,36,0.0004774",
    ]
    data = json.loads(usage.render_json(rep))
    assert data["rows"][1] == {"model": "gpt-4.1", "requests": 4, "prompt_tokens": 40,
                               "completion_tokens": 16, "cost_usd": 0.000448}
    assert data["total"]["requests"] == 9
    empty = usage.report([], by="key", since=SINCE, until=UNTIL)
    assert usage.render_table(empty).endswith("no usage recorded")
