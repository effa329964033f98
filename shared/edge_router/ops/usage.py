"""The usage report of `edge-router usage` (SPEC §13): pure grouping and rendering.

The rows are the table's day items, one per (key, UTC day, model, region), read with one
`Query` per key (`limits.store.LimitsStore.query`; never a Scan). `report()` groups them by one
dimension and adds totals; `render_table`, `render_csv` and `render_json` print it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from ..limits import windows
from ..limits.store import Counts, LimitsStore
from ..pricing import format_usd

By = Literal["key", "model", "day", "region"]
BY_CHOICES: tuple[By, ...] = ("key", "model", "day", "region")


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One day item of one key."""

    key: str  # the key's name
    day: str
    model: str
    region: str
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the report: a group (or the totals) and its sums."""

    group: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Report:
    by: By
    since: date
    until: date
    lines: tuple[Line, ...]
    total: Line


def row(key: str, sk: str, counts: Counts) -> UsageRow | None:
    """The `UsageRow` of a day item (None for any other item of the key)."""
    parsed = windows.parse_day_sk(sk)
    if parsed is None:
        return None
    day, model, region = parsed
    return UsageRow(key, day, model, region, counts.requests, counts.prompt_tokens,
                    counts.completion_tokens, counts.cost_usd)


async def read_rows(
    store: LimitsStore, keys: Iterable[tuple[str, str]], *, since: date, until: date
) -> list[UsageRow]:
    """The day items of every (name, key id) from `since` to `until` (both included)."""
    first = windows.day_sk(since.isoformat(), "", "").rstrip("#")
    last = windows.DAY_PREFIX + until.isoformat() + "#\uffff"
    out: list[UsageRow] = []
    for name, key_id in keys:
        for sk, counts in await store.query(key_id, first, last):
            if (found := row(name, sk, counts)) is not None:
                out.append(found)
    return out


def _sum(group: str, rows: Sequence[UsageRow]) -> Line:
    return Line(
        group,
        sum(r.requests for r in rows),
        sum(r.prompt_tokens for r in rows),
        sum(r.completion_tokens for r in rows),
        sum((r.cost_usd for r in rows), Decimal(0)),
    )


def report(rows: Sequence[UsageRow], *, by: By, since: date, until: date) -> Report:
    """Rows grouped by `by` (groups in sort order; by key, the biggest spender first)."""
    groups: dict[str, list[UsageRow]] = {}
    for r in rows:
        groups.setdefault(getattr(r, by), []).append(r)
    lines = [_sum(group, members) for group, members in sorted(groups.items())]
    if by == "key":
        lines.sort(key=lambda line: (-line.cost_usd, -line.requests, line.group))
    return Report(by, since, until, tuple(lines), _sum("TOTAL", rows))


_HEADINGS = ("requests", "prompt_tokens", "completion_tokens", "cost_usd")


def _cells(line: Line) -> list[str]:
    return [str(line.requests), str(line.prompt_tokens), str(line.completion_tokens),
            format_usd(line.cost_usd)]


def render_table(rep: Report) -> str:
    head = [rep.by.upper(), "REQUESTS", "PROMPT TOK", "COMPL TOK", "COST USD"]
    body = [[line.group, *_cells(line)] for line in rep.lines]
    total = ["TOTAL", *_cells(rep.total)]
    widths = [max(len(r[i]) for r in [head, *body, total]) for i in range(len(head))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                         for i, c in enumerate(cells))

    rule = "-" * len(fmt(head))
    title = f"usage {rep.since.isoformat()} .. {rep.until.isoformat()} (UTC days) by {rep.by}"
    if not rep.lines:
        return f"{title}\nno usage recorded"
    return "\n".join([title, fmt(head), *map(fmt, body), rule, fmt(total)])


def render_csv(rep: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([rep.by, *_HEADINGS])
    for line in (*rep.lines, rep.total):
        writer.writerow([line.group, *_cells(line)])
    return out.getvalue().rstrip("\n")


def render_json(rep: Report) -> str:
    def obj(line: Line) -> dict[str, object]:
        return {"requests": line.requests, "prompt_tokens": line.prompt_tokens,
                "completion_tokens": line.completion_tokens,
                "cost_usd": float(format_usd(line.cost_usd))}  # a number, as `cost --json`

    return json.dumps({
        "since": rep.since.isoformat(), "until": rep.until.isoformat(), "by": rep.by,
        "rows": [{rep.by: line.group, **obj(line)} for line in rep.lines],
        "total": obj(rep.total),
    }, indent=2)
