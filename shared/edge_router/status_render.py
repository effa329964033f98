"""How `edge-router status` shows the health matrix: a terminal table and alerts, or JSON — pure.

`render(matrix)` is the table (one line per upstream, one column per observing region, each
cell `state latency last-seen`), followed by `alerts(matrix)`: one plain line per open circuit,
failed probe, rate limit, silent region or unreported upstream, e.g.
`us-east: OPEN in ap-northeast-2 (until 12:03:10 UTC, last error: HTTP 503)`, or an all-clear.
Times are UTC. The dashboard (`api/dashboard.html`) draws the same matrix in the browser.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .status_matrix import CLOSED, HALF_OPEN, OPEN, Cell, Matrix

_ERROR_CHARS = 120


def clock_time(epoch: float) -> str:
    """`12:03:10 UTC`."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")


def age(seconds: float) -> str:
    """`4s`, `3m`, `2h` (clock skew never shows as a negative age)."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"


def cell_text(cell: Cell | None, now: float) -> str:
    """`closed 42ms 3s`, `OPEN - 5s`, `unknown 180ms(p) 40s probe-FAIL`, `no data`. An open
    circuit shows no latency: the estimate of an upstream that is not answering is history
    (`--json` keeps it)."""
    if cell is None:
        return "no data"
    parts = [cell.state.upper() if cell.state == OPEN else cell.state.replace("_", "-")]
    if cell.latency_ms is not None and cell.state != OPEN:
        suffix = "(p)" if cell.latency_source == "probe" else ""
        parts.append(f"{cell.latency_ms:.0f}ms{suffix}")
    else:
        parts.append("-")
    if cell.seen_at is not None and not cell.live:  # a live column says so in its header
        parts.append(age(now - cell.seen_at))
    if cell.rate_limited_until is not None and cell.rate_limited_until > now:
        parts.append("RL")
    if cell.probe_failed(now):
        parts.append("probe-FAIL")
    return " ".join(parts)


def alerts(matrix: Matrix) -> list[str]:
    """One line per thing an operator should know; an all-clear line when there is none."""
    now, lines = matrix.now, []
    for row in matrix.rows:
        if not row.cells:
            lines.append(f"{row.upstream_id}: no data from any region")
        for region in matrix.regions:
            cell = row.cells.get(region)
            if cell is None:
                continue
            error = f"last error: {_short(cell.last_error)}" if cell.last_error else ""
            if cell.state == OPEN:
                until = f"until {clock_time(cell.open_until or now)}"
                detail = ", ".join(filter(None, [until, error]))
                lines.append(f"{row.upstream_id}: OPEN in {region} ({detail})")
            elif cell.state == HALF_OPEN:
                detail = ", ".join(filter(None, ["cooldown over, trial due", error]))
                lines.append(f"{row.upstream_id}: half-open in {region} ({detail})")
            if cell.probe_failed(now):
                when = age(now - (cell.probed_at or now))
                lines.append(f"{row.upstream_id}: probe FAILED from {region} ({when} ago)")
            if cell.rate_limited_until is not None and cell.rate_limited_until > now:
                until = clock_time(cell.rate_limited_until)
                lines.append(f"{row.upstream_id}: rate-limited in {region} until {until}")
    for region in matrix.silent_regions:
        lines.append(f"{region}: no data for any upstream (nothing written from there lately)")
    if not lines:
        lines.append(f"all {len(matrix.rows)} upstreams closed in every region")
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def render(matrix: Matrix) -> str:
    """The terminal table: header, legend, one line per upstream, then the alerts."""
    stamp = datetime.fromtimestamp(matrix.now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    heads = [f"{r} (live)" if r == matrix.live_region else r for r in matrix.regions]
    header = ("upstream", *heads)
    rows = [
        (row.upstream_id, *(cell_text(row.cells.get(r), matrix.now) for r in matrix.regions))
        for row in matrix.rows
    ]
    widths = [max(len(line[i]) for line in (header, *rows)) for i in range(len(header))]

    def fmt(line: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()

    return "\n".join(
        [
            f"health matrix from {matrix.source} at {stamp}",
            f"{_count(len(matrix.rows), 'upstream')} × "
            f"{_count(len(matrix.regions), 'observing region')}; each cell: "
            "state, latency (EWMA of requests, (p) = health-checker probe), last seen; "
            "RL = rate-limited",
            "",
            fmt(header),
            *map(fmt, rows),
            "",
            *alerts(matrix),
        ]
    )


def _cell_json(cell: Cell, now: float) -> dict[str, Any]:
    return {
        "state": cell.state,
        "open_until": cell.open_until if cell.state != CLOSED else None,
        "latency_ms": None if cell.latency_ms is None else round(cell.latency_ms, 2),
        "latency_source": cell.latency_source,
        "seen_at": cell.seen_at,
        "age_s": None if cell.seen_at is None else round(max(0.0, now - cell.seen_at), 1),
        "last_error": cell.last_error,
        "probe_ok": cell.probe_ok,
        "probed_at": cell.probed_at,
        "rate_limited_until": cell.rate_limited_until,
        "requests": cell.requests,
        "errors": cell.errors,
        "live": cell.live,
    }


def to_json(matrix: Matrix) -> dict[str, Any]:
    """The matrix as JSON: cells by region (`null` = no data), the alerts and a verdict."""
    return {
        "source": matrix.source,
        "now": matrix.now,
        "regions": list(matrix.regions),
        "live_region": matrix.live_region,
        "down": matrix.down,
        "silent_regions": matrix.silent_regions,
        "upstreams": [
            {
                "id": row.upstream_id,
                "name": row.name,
                "cells": {
                    r: _cell_json(c, matrix.now) if (c := row.cells.get(r)) else None
                    for r in matrix.regions
                },
            }
            for row in matrix.rows
        ],
        "alerts": alerts(matrix),
    }
