"""`edge-router probe`: latency table per upstream, the way the health checker sees them.

    edge-router probe --count 5 [--concurrency 8] [--timeout 5] [--config F] [--json]

Each upstream gets `--count` probes (`GET {base_url}/models`, see `edge_router.probe`), with the
key from its `api_key_env` variable when set. Exit code 0 when every upstream answered at least
once, 1 when any is DOWN (no probe reached it), 2 for a bad config. A progress bar goes to
stderr while it runs, only when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

import aiohttp

from ..config import Config, ConfigError, Upstream, load_config
from ..probe import ProbeResult, ProbeStats, probe_all, summarise


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds in (0, 300]")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "probe",
        help="latency table per upstream (GET /models)",
        description="Probe every configured upstream with GET {base_url}/models and print "
        "min/avg/p50/p95 latency (time to response headers). Any answer below 500 counts as "
        "reachable. Exit 0 if every upstream is reachable, 1 if any is DOWN.",
    )
    parser.add_argument("--count", type=_positive_int, default=3, help="probes per upstream (3)")
    parser.add_argument(
        "--concurrency", type=_positive_int, default=8, help="probes in flight at most (8)"
    )
    parser.add_argument("--timeout", type=_seconds, default=5.0, help="seconds per probe (5)")
    parser.add_argument("--config", help="YAML config (default: built-in HolySheep regions)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


class Progress:
    """`probing [#####-----] 12/25` on one line, redrawn with `\\r`; silent when not a TTY."""

    def __init__(self, total: int, stream: TextIO, *, width: int = 30) -> None:
        self.total, self.done, self.width = total, 0, width
        self.stream = stream
        self.enabled = stream.isatty()

    def _line(self) -> str:
        filled = self.width * self.done // self.total
        bar = "#" * filled + "-" * (self.width - filled)
        return f"probing [{bar}] {self.done}/{self.total}"

    def advance(self, _result: ProbeResult) -> None:
        self.done += 1
        if self.enabled:
            self.stream.write("\r" + self._line())
            self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * len(self._line()) + "\r")
            self.stream.flush()


def upstream_keys(config: Config, environ: Mapping[str, str]) -> dict[str, str | None]:
    """Upstream id -> key from its `api_key_env` variable (an empty variable counts as unset)."""
    return {
        u.id: (environ.get(u.api_key_env) or None) if u.api_key_env else None
        for u in config.upstreams
    }


async def _probe(config: Config, args: argparse.Namespace, progress: Progress) -> list[ProbeResult]:
    async with aiohttp.ClientSession() as session:
        return await probe_all(
            session,
            config.upstreams,
            keys=upstream_keys(config, os.environ),
            count=args.count,
            concurrency=args.concurrency,
            timeout_s=args.timeout,
            now=time.perf_counter,
            on_result=progress.advance,
        )


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config, environ=os.environ)
    except ConfigError as exc:
        print(f"edge-router probe: {exc}", file=sys.stderr)
        return 2
    progress = Progress(len(config.upstreams) * args.count, sys.stderr)
    try:
        results = asyncio.run(_probe(config, args, progress))
    finally:
        progress.clear()
    stats = summarise(results)
    if args.json:
        print(json.dumps(to_json(config.upstreams, stats, args), indent=2))
    else:
        print(render_table(config.upstreams, stats, args))
    return 1 if any(s.status == "down" for s in stats.values()) else 0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def status_text(stats: ProbeStats) -> str:
    """`ok`, `degraded (timeout, 2/5 failed)` or `DOWN (connection refused, 5/5 failed)`."""
    if stats.status == "ok":
        return "ok"
    label = "DOWN" if stats.status == "down" else "degraded"
    return f"{label} ({stats.last_error}, {stats.errors}/{stats.probes} failed)"


def render_table(
    upstreams: tuple[Upstream, ...], stats: dict[str, ProbeStats], args: argparse.Namespace
) -> str:
    head = (
        f"{len(upstreams)} upstreams, {args.count} probe(s) each: GET {{base_url}}/models, "
        f"timeout {args.timeout:g} s; latency in ms to response headers"
    )
    header = ("upstream", "name", "min", "avg", "p50", "p95", "errors", "status")
    rows = []
    for upstream in upstreams:
        s = stats[upstream.id]
        rows.append(
            (
                upstream.id,
                upstream.name,
                _ms(s.min_ms),
                _ms(s.avg_ms),
                _ms(s.p50_ms),
                _ms(s.p95_ms),
                f"{s.errors}/{s.probes}",
                status_text(s),
            )
        )
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    left = {0, 1, 7}

    def fmt(row: tuple[str, ...]) -> str:
        cells = [
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    down = [u.id for u in upstreams if stats[u.id].status == "down"]
    verdict = (
        f"{len(down)} of {len(upstreams)} upstreams DOWN: {', '.join(down)}"
        if down
        else f"all {len(upstreams)} upstreams reachable"
    )
    return "\n".join([head, "", fmt(header), *map(fmt, rows), "", verdict])


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def to_json(
    upstreams: tuple[Upstream, ...], stats: dict[str, ProbeStats], args: argparse.Namespace
) -> dict[str, Any]:
    return {
        "count": args.count,
        "timeout_s": args.timeout,
        "all_reachable": all(stats[u.id].status != "down" for u in upstreams),
        "upstreams": [
            {
                "id": u.id,
                "name": u.name,
                "base_url": u.base_url,
                "status": stats[u.id].status,
                "probes": stats[u.id].probes,
                "ok": stats[u.id].ok,
                "errors": stats[u.id].errors,
                "error_counts": stats[u.id].error_counts,
                "last_error": stats[u.id].last_error,
                "min_ms": _round(stats[u.id].min_ms),
                "avg_ms": _round(stats[u.id].avg_ms),
                "p50_ms": _round(stats[u.id].p50_ms),
                "p95_ms": _round(stats[u.id].p95_ms),
                "samples_ms": [round(v, 2) for v in stats[u.id].latencies_ms],
            }
            for u in upstreams
        ],
    }
