"""Upstream reachability probes, for `edge-router probe` and the health-checker Lambda (SPEC §6, §9).

A probe is `GET {base_url}/models` with the upstream's key, if one is configured, as a Bearer
token. Any answer below 500 means reachable: a 401 still proves the path to the upstream works,
and that is what routing decides on. A 5xx, a timeout or a connection failure means not.

`ProbeResult.error` is one of a fixed set of short classes, for metrics and tables:

    http_<status>   the upstream answered 5xx (`http_503`)
    timeout         no answer within `timeout_s` (connect included)
    connect         no connection: refused, DNS failure, unreachable network
    tls             the TLS handshake failed (certificate, protocol)
    disconnected    the connection dropped before an answer (reset, closed by the server)
    protocol        the answer was not valid HTTP
    client          any other client-side failure (e.g. an unusable URL)

`latency_ms` is the time to the response headers on a monotonic clock (`now`, injected): time to
first byte, the measure SPEC §5's latency EWMA uses. The body is read and discarded afterwards
(bounded), so that with `count > 1` the connection is reused: the first sample of an upstream
includes connection set-up, later ones do not. The key never appears in a result or a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp

from .config import Upstream
from .upstream.describe import classify

__all__ = ["ProbeResult", "ProbeStats", "percentile", "probe_all", "probe_upstream", "summarise"]

#: How much of a /models answer to read so the connection can be reused; the rest is dropped.
_DRAIN_LIMIT = 1 << 20


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe of one upstream. `status` is the HTTP status when there was an answer."""

    upstream_id: str
    ok: bool
    latency_ms: float
    status: int | None = None
    error: str | None = None  # one of the classes in the module docstring; None when ok
    detail: str | None = None  # a few words for people: "connection refused", "HTTP 503"


async def _drain(response: aiohttp.ClientResponse) -> None:
    read = 0
    while read < _DRAIN_LIMIT:
        chunk = await response.content.read(65536)
        if not chunk:
            return
        read += len(chunk)


async def probe_upstream(
    session: aiohttp.ClientSession,
    upstream: Upstream,
    *,
    api_key: str | None,
    timeout_s: float = 5.0,
    now: Callable[[], float],
) -> ProbeResult:
    """Probe one upstream once. Never raises for network trouble: it is in the result.

    >>> await probe_upstream(session, upstream, api_key=None, now=time.perf_counter)
    ProbeResult(upstream_id='us-east', ok=True, latency_ms=41.7, status=200, ...)
    >>> # a closed port: ProbeResult(ok=False, error='connect', detail='connection refused', ...)
    """
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    started = now()
    try:
        async with session.get(
            f"{upstream.base_url}/models", headers=headers, timeout=timeout, allow_redirects=False
        ) as response:
            latency_ms = (now() - started) * 1000.0
            # The verdict is in; a body that fails to arrive in time does not change it.
            with contextlib.suppress(TimeoutError, aiohttp.ClientError):
                await _drain(response)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        error, detail = classify(exc, timeout_s=timeout_s)
        return ProbeResult(upstream.id, False, (now() - started) * 1000.0, None, error, detail)
    status = response.status
    if status >= 500:
        return ProbeResult(
            upstream.id, False, latency_ms, status, f"http_{status}", f"HTTP {status}"
        )
    return ProbeResult(upstream.id, True, latency_ms, status)


async def probe_all(
    session: aiohttp.ClientSession,
    upstreams: Sequence[Upstream],
    *,
    keys: Mapping[str, str | None],
    count: int = 1,
    concurrency: int = 8,
    timeout_s: float = 5.0,
    now: Callable[[], float],
    on_result: Callable[[ProbeResult], None] | None = None,
) -> list[ProbeResult]:
    """Probe every upstream `count` times; results in upstream order, then probe order.

    Upstreams are probed concurrently, at most `concurrency` probes in flight; the probes of one
    upstream run one after another so that they do not compete with each other (and reuse the
    connection). `keys` maps upstream id -> API key (missing or None: no Authorization header).
    `on_result` is called as each probe finishes (progress bars, metrics).
    """
    if count < 1 or concurrency < 1:
        raise ValueError("count and concurrency must be at least 1")
    gate = asyncio.Semaphore(concurrency)

    async def series(upstream: Upstream) -> list[ProbeResult]:
        results = []
        for _ in range(count):
            async with gate:
                result = await probe_upstream(
                    session, upstream, api_key=keys.get(upstream.id), timeout_s=timeout_s, now=now
                )
            if on_result is not None:
                on_result(result)
            results.append(result)
        return results

    batches = await asyncio.gather(*(series(upstream) for upstream in upstreams))
    return [result for batch in batches for result in batch]


def percentile(sorted_values: Sequence[float], pct: int) -> float:
    """Nearest-rank percentile of ascending values: an observed value, never an interpolation.

    The smallest value with at least `pct` % of the values at or below it:
    p50 of [10, 20, 30, 40] is 20; p95 of 1..100 is 95; p95 of 1..20 is 19.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 < pct <= 100:
        raise ValueError("pct must be in 1..100")
    rank = math.ceil(pct * len(sorted_values) / 100)  # exact: pct and len are integers
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True)
class ProbeStats:
    """One upstream's probes. Latency figures cover reachable probes only (None if there were
    none): a refused connection's 1 ms and a timeout's 5,000 ms are not latencies."""

    upstream_id: str
    probes: int
    ok: int
    latencies_ms: tuple[float, ...]  # reachable probes, in probe order
    error_counts: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None  # detail of the latest failure
    min_ms: float | None = None
    avg_ms: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None

    @property
    def errors(self) -> int:
        return self.probes - self.ok

    @property
    def status(self) -> str:
        """`ok` (every probe reachable), `degraded` (some failed) or `down` (none reachable)."""
        if self.ok == 0:
            return "down"
        return "ok" if self.ok == self.probes else "degraded"

    @property
    def main_error(self) -> str | None:
        """The most frequent error class (the first seen on a tie)."""
        return max(self.error_counts, key=self.error_counts.__getitem__, default=None)


def summarise(results: Iterable[ProbeResult]) -> dict[str, ProbeStats]:
    """Per upstream id, in order of first appearance: counts and min/avg/p50/p95 latency (ms)."""
    grouped: dict[str, list[ProbeResult]] = {}
    for result in results:
        grouped.setdefault(result.upstream_id, []).append(result)
    stats = {}
    for upstream_id, group in grouped.items():
        latencies = tuple(r.latency_ms for r in group if r.ok)
        error_counts: dict[str, int] = {}
        for r in group:
            if not r.ok:
                error_counts[r.error or "client"] = error_counts.get(r.error or "client", 0) + 1
        failures = [r.detail for r in group if not r.ok]
        ordered = sorted(latencies)
        stats[upstream_id] = ProbeStats(
            upstream_id=upstream_id,
            probes=len(group),
            ok=len(latencies),
            latencies_ms=latencies,
            error_counts=error_counts,
            last_error=failures[-1] if failures else None,
            min_ms=ordered[0] if ordered else None,
            avg_ms=sum(ordered) / len(ordered) if ordered else None,
            p50_ms=percentile(ordered, 50) if ordered else None,
            p95_ms=percentile(ordered, 95) if ordered else None,
        )
    return stats
