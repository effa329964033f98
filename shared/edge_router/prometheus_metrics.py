"""`PrometheusMetrics`: the `Metrics` sink of `edge-router serve`, exposed at `GET /metrics` in
the Prometheus text format by the `prometheus-client` library (SPEC §15).

The series mirror SPEC §8's CloudWatch metrics, named the Prometheus way (snake case, base
units: seconds and USD, `_total` on counters):

    edge_router_requests_total{region, model, upstream}       Requests
    edge_router_latency_seconds{region, model}                 Latency          (histogram)
    edge_router_upstream_latency_seconds{region, upstream}     UpstreamLatency  (histogram)
    edge_router_time_to_first_byte_seconds{region, upstream}   TimeToFirstByte  (histogram)
    edge_router_overhead_seconds{region}                       Overhead         (histogram)
    edge_router_attempts_total{region}                         Attempts
    edge_router_failovers_total{region}                        Failovers
    edge_router_errors_total{region, error_class}              Errors
    edge_router_upstream_auth_failed_total{region, upstream}   UpstreamAuthFailed
    edge_router_circuit_opened_total{region, upstream}         CircuitOpened
    edge_router_rate_limited_total{region, upstream}           RateLimited
    edge_router_retry_budget_exhausted_total{region}           RetryBudgetExhausted
    edge_router_prompt_tokens_total{region, model}             PromptTokens
    edge_router_completion_tokens_total{region, model}         CompletionTokens
    edge_router_cost_usd_total{region, model}                  CostUSD
    edge_router_upstream_available{region, upstream}           UpstreamAvailable (gauge, 1/0)
    edge_router_events_total{region, event}                    any other event the code emits

Labels are bounded: one region; `upstream` is a configured id, or `none` for a request no
upstream answered; `model` is a priced model or `other` (unknown models fold, as in §8);
`error_class` is one of §8's fixed classes. `UpstreamAvailable` is read from the breakers when
scraped (closed or half-open = 1), since `serve` runs no health checker; `ProbeLatency` is the
health checker's and has no series here. Each sink owns its own registry, so two routers in one
process (tests) never share series.

How: the request path only adds to plain dicts (a few microseconds; `prometheus_client`'s own
`Counter`/`Histogram` children, with a lock per value, cost ~10x more per request here), and a
custom collector hands the totals to the library as metric families when scraped; the library
writes the exposition. It keeps `CountingMetrics`' totals too: `/status` shows them.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from .config import Config
from .observability import (
    CIRCUIT_OPENED,
    ERROR_CLASSES,
    LIMITS_UNAVAILABLE,
    RATE_LIMITED,
    RETRY_BUDGET_EXHAUSTED,
    UPSTREAM_AUTH_FAILED,
    CountingMetrics,
    RequestRecord,
)

NO_UPSTREAM = "none"
OTHER_MODEL = "other"
#: Request latencies: a few ms (cached, local) to the 25 s deadline and beyond.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0)
#: The router's own time: tens of microseconds to tens of milliseconds.
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)

Labels = tuple[str, ...]


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: a cheap dict key
class Series:
    """One `edge_router_*` metric: its name (without `_total`), help and label names (after
    `region`), and its kind."""

    name: str
    doc: str
    labels: Labels = ()
    kind: str = "counter"  # counter | histogram | gauge
    buckets: tuple[float, ...] = ()


REQUESTS = Series("requests", "Requests answered", ("model", "upstream"))
LATENCY = Series("latency_seconds", "Request latency", ("model",), "histogram", LATENCY_BUCKETS)
UPSTREAM_LATENCY = Series("upstream_latency_seconds", "Time spent waiting on upstreams",
                          ("upstream",), "histogram", LATENCY_BUCKETS)  # fmt: skip
TTFB = Series("time_to_first_byte_seconds", "Upstream time to first byte", ("upstream",),
              "histogram", LATENCY_BUCKETS)  # fmt: skip
OVERHEAD = Series("overhead_seconds", "Router time excluding upstream waits", (), "histogram",
                  OVERHEAD_BUCKETS)  # fmt: skip
ATTEMPTS = Series("attempts", "Upstream attempts")
FAILOVERS = Series("failovers", "Attempts after the first of a request")
ERRORS = Series("errors", "Requests answered with an error", ("error_class",))
PROMPT_TOKENS = Series("prompt_tokens", "Prompt tokens", ("model",))
COMPLETION_TOKENS = Series("completion_tokens", "Completion tokens", ("model",))
COST = Series("cost_usd", "Cost in USD from the pricing table", ("model",))
EVENT_SERIES = {
    UPSTREAM_AUTH_FAILED: Series("upstream_auth_failed", "Upstream 401/403 answers", ("upstream",)),
    CIRCUIT_OPENED: Series("circuit_opened", "Circuits opened", ("upstream",)),
    RATE_LIMITED: Series("rate_limited", "Upstream 429 answers", ("upstream",)),
    RETRY_BUDGET_EXHAUSTED: Series(
        "retry_budget_exhausted", "Requests that stopped because the retry budget was spent"),
    LIMITS_UNAVAILABLE: Series(
        "limits_unavailable", "Per-key limit store failures (served without limits, SPEC §13)"),
}
EVENTS = Series("events", "Other router events", ("event",))
AVAILABLE = Series("upstream_available", "1 when the upstream's circuit is not open",
                   ("upstream",), "gauge")  # fmt: skip
ALL_SERIES = (REQUESTS, LATENCY, UPSTREAM_LATENCY, TTFB, OVERHEAD, ATTEMPTS, FAILOVERS, ERRORS,
              PROMPT_TOKENS, COMPLETION_TOKENS, COST, *EVENT_SERIES.values(), EVENTS, AVAILABLE)  # fmt: skip


@dataclass(slots=True)
class _Histogram:
    counts: list[int]  # per bucket, not cumulative; the last is +Inf
    total: float = 0.0


@dataclass(slots=True)
class _Values:
    counters: dict[tuple[Series, Labels], float] = field(default_factory=dict)
    histograms: dict[tuple[Series, Labels], _Histogram] = field(default_factory=dict)


class PrometheusMetrics(CountingMetrics):
    """Counts requests and events into `edge_router_*` series; `exposition()` renders them."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.region = config.region
        self._upstreams = frozenset(u.id for u in config.upstreams)
        self._models = frozenset(config.pricing) | {OTHER_MODEL}
        self._values = _Values()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # `collect()` below

    # -- bounded label values ------------------------------------------------------------------
    def _upstream(self, upstream: str | None) -> str:
        return upstream if upstream in self._upstreams else NO_UPSTREAM

    def _model(self, model: str) -> str:
        return model if model in self._models else OTHER_MODEL

    def _add(self, series: Series, labels: Labels, value: float) -> None:
        key = (series, labels)
        counters = self._values.counters
        counters[key] = counters.get(key, 0.0) + value

    def _observe(self, series: Series, labels: Labels, seconds: float) -> None:
        key = (series, labels)
        histogram = self._values.histograms.get(key)
        if histogram is None:
            histogram = self._values.histograms[key] = _Histogram([0] * (len(series.buckets) + 1))
        histogram.counts[bisect.bisect_left(series.buckets, seconds)] += 1
        histogram.total += seconds

    # -- the Metrics protocol ------------------------------------------------------------------
    def request(self, record: RequestRecord) -> None:
        super().request(record)
        model, upstream = self._model(record.model), self._upstream(record.upstream)
        self._add(REQUESTS, (model, upstream), 1)
        self._observe(LATENCY, (model,), record.latency_ms / 1000.0)
        self._observe(OVERHEAD, (), record.overhead_ms / 1000.0)
        if record.upstream is not None:
            self._observe(UPSTREAM_LATENCY, (upstream,), record.upstream_ms / 1000.0)
            if record.ttfb_ms is not None:
                self._observe(TTFB, (upstream,), record.ttfb_ms / 1000.0)
        self._add(ATTEMPTS, (), record.attempts)
        if record.attempts > 1:
            self._add(FAILOVERS, (), record.attempts - 1)
        if record.error_class is not None:
            error = record.error_class if record.error_class in ERROR_CLASSES else "internal"
            self._add(ERRORS, (error,), 1)
        if record.prompt_tokens:
            self._add(PROMPT_TOKENS, (model,), record.prompt_tokens)
        if record.completion_tokens:
            self._add(COMPLETION_TOKENS, (model,), record.completion_tokens)
        if record.cost_usd is not None:
            self._add(COST, (model,), float(record.cost_usd))

    def event(self, name: str, *, upstream: str | None = None, value: float = 1) -> None:
        super().event(name, upstream=upstream, value=value)
        series = EVENT_SERIES.get(name)
        if series is None:
            self._add(EVENTS, (name,), value)  # names are code constants: a bounded set
        elif series.labels:
            self._add(series, (self._upstream(upstream),), value)
        else:
            self._add(series, (), value)

    # -- scraping --------------------------------------------------------------------------------
    def set_available(self, available: dict[str, bool]) -> None:
        """`UpstreamAvailable` from the breakers (upstream id -> not open), set when scraped."""
        for upstream_id, ok in available.items():
            if upstream_id in self._upstreams:
                self._values.counters[(AVAILABLE, (upstream_id,))] = 1.0 if ok else 0.0

    def collect(self) -> Iterator[Metric]:
        """The totals as `prometheus_client` metric families (the registry calls this)."""
        scalars: dict[Series, CounterMetricFamily | GaugeMetricFamily] = {}
        histograms: dict[Series, HistogramMetricFamily] = {}
        for series in ALL_SERIES:
            name, names = f"edge_router_{series.name}", ["region", *series.labels]
            if series.kind == "counter":
                scalars[series] = CounterMetricFamily(name, series.doc, labels=names)
            elif series.kind == "gauge":
                scalars[series] = GaugeMetricFamily(name, series.doc, labels=names)
            else:
                histograms[series] = HistogramMetricFamily(name, series.doc, labels=names)
        for (series, labels), value in self._values.counters.items():
            scalars[series].add_metric([self.region, *labels], value)
        for (series, labels), histogram in self._values.histograms.items():
            cumulative, buckets = 0, []
            for bound, count in zip((*series.buckets, float("inf")), histogram.counts, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(cumulative)))
            histograms[series].add_metric(
                [self.region, *labels], buckets=buckets, sum_value=histogram.total)
        for series in ALL_SERIES:
            yield histograms[series] if series.kind == "histogram" else scalars[series]

    def exposition(self) -> tuple[bytes, str]:
        """The text format body and its content type (written by `prometheus_client`)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
