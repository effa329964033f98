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

It keeps `CountingMetrics`' totals too: `/status` shows them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from .config import Config
from .observability import (
    CIRCUIT_OPENED,
    ERROR_CLASSES,
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
#: Events with their own per-upstream counter; any other event name counts in events_total.
_EVENT_SERIES = {
    UPSTREAM_AUTH_FAILED: "upstream_auth_failed",
    CIRCUIT_OPENED: "circuit_opened",
    RATE_LIMITED: "rate_limited",
}


class PrometheusMetrics(CountingMetrics):
    """Counts requests and events into `edge_router_*` series; `exposition()` renders them."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.region = config.region
        self.registry = CollectorRegistry(auto_describe=True)
        self._upstreams = frozenset(u.id for u in config.upstreams)
        self._models = frozenset(config.pricing) | {OTHER_MODEL}
        r, reg = self.registry, ("region",)

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(f"edge_router_{name}", doc, [*reg, *labels], registry=r)

        def histogram(name: str, doc: str, buckets: Iterable[float], *labels: str) -> Histogram:
            return Histogram(f"edge_router_{name}_seconds", doc, [*reg, *labels],
                             buckets=tuple(buckets), registry=r)  # fmt: skip

        self.requests = counter("requests", "Requests answered", "model", "upstream")
        self.latency = histogram("latency", "Request latency", LATENCY_BUCKETS, "model")
        self.upstream_latency = histogram(
            "upstream_latency", "Time spent waiting on upstreams", LATENCY_BUCKETS, "upstream")
        self.ttfb = histogram(
            "time_to_first_byte", "Upstream time to first byte", LATENCY_BUCKETS, "upstream")
        self.overhead = histogram(
            "overhead", "Router time excluding upstream waits", OVERHEAD_BUCKETS)
        self.attempts = counter("attempts", "Upstream attempts")
        self.failovers = counter("failovers", "Attempts after the first of a request")
        self.errors = counter("errors", "Requests answered with an error", "error_class")
        self.prompt_tokens = counter("prompt_tokens", "Prompt tokens", "model")
        self.completion_tokens = counter("completion_tokens", "Completion tokens", "model")
        self.cost = counter("cost_usd", "Cost in USD from the pricing table", "model")
        self.per_upstream_events = {
            name: counter(series, f"{name} events", "upstream")
            for name, series in _EVENT_SERIES.items()
        }
        self.budget_exhausted = counter(
            "retry_budget_exhausted", "Requests that stopped because the retry budget was spent")
        self.events = counter("events", "Other router events", "event")
        self.available = Gauge(
            "edge_router_upstream_available", "1 when the upstream's circuit is not open",
            [*reg, "upstream"], registry=r)  # fmt: skip
        self._children: dict[tuple[Any, ...], Any] = {}

    # -- bounded label values ------------------------------------------------------------------
    def _upstream(self, upstream: str | None) -> str:
        return upstream if upstream in self._upstreams else NO_UPSTREAM

    def _model(self, model: str) -> str:
        return model if model in self._models else OTHER_MODEL

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(region, *labels)`, cached: the request path pays a dict lookup."""
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(self.region, *labels)
        return child

    # -- the Metrics protocol ------------------------------------------------------------------
    def request(self, record: RequestRecord) -> None:
        super().request(record)
        model, upstream = self._model(record.model), self._upstream(record.upstream)
        self._child(self.requests, model, upstream).inc()
        self._child(self.latency, model).observe(record.latency_ms / 1000.0)
        self._child(self.overhead).observe(record.overhead_ms / 1000.0)
        if record.upstream is not None:
            self._child(self.upstream_latency, upstream).observe(record.upstream_ms / 1000.0)
            if record.ttfb_ms is not None:
                self._child(self.ttfb, upstream).observe(record.ttfb_ms / 1000.0)
        self._child(self.attempts).inc(record.attempts)
        if record.attempts > 1:
            self._child(self.failovers).inc(record.attempts - 1)
        if record.error_class is not None:
            error = record.error_class if record.error_class in ERROR_CLASSES else "internal"
            self._child(self.errors, error).inc()
        if record.prompt_tokens:
            self._child(self.prompt_tokens, model).inc(record.prompt_tokens)
        if record.completion_tokens:
            self._child(self.completion_tokens, model).inc(record.completion_tokens)
        if record.cost_usd is not None:
            self._child(self.cost, model).inc(float(record.cost_usd))

    def event(self, name: str, *, upstream: str | None = None, value: float = 1) -> None:
        super().event(name, upstream=upstream, value=value)
        per_upstream = self.per_upstream_events.get(name)
        if per_upstream is not None:
            self._child(per_upstream, self._upstream(upstream)).inc(value)
        elif name == RETRY_BUDGET_EXHAUSTED:
            self._child(self.budget_exhausted).inc(value)
        else:
            self._child(self.events, name).inc(value)

    # -- scraping --------------------------------------------------------------------------------
    def set_available(self, available: dict[str, bool]) -> None:
        """`UpstreamAvailable` from the breakers (upstream id -> not open), set when scraped."""
        for upstream_id, ok in available.items():
            if upstream_id in self._upstreams:
                self._child(self.available, upstream_id).set(1 if ok else 0)

    def exposition(self) -> tuple[bytes, str]:
        """The text format body and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
