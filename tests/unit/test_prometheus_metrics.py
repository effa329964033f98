"""`PrometheusMetrics` without I/O: bounded labels whatever a record carries, histogram buckets
as Prometheus reads them (`le` = less than or equal), and the exposition parsed back by the
library."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from edge_router.config import build_config
from edge_router.observability import RequestRecord
from edge_router.prometheus_metrics import PrometheusMetrics


def record(**changes: object) -> RequestRecord:
    base: dict[str, object] = {
        "status": 200, "model": "gpt-4.1", "upstream": "us-east", "latency_ms": 100.0,
        "upstream_ms": 90.0, "overhead_ms": 0.25, "ttfb_ms": 80.0, "attempts": 1}  # fmt: skip
    return RequestRecord(**{**base, **changes})  # type: ignore[arg-type]


def samples(sink: PrometheusMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = sink.exposition()[0].decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }  # fmt: skip


def test_label_values_stay_in_their_bounded_sets() -> None:
    sink = PrometheusMetrics(build_config({}, region="us-east-1"))
    sink.request(record(model="made-up-model-9", upstream="not-configured",
                        error_class="something-new", status=502))  # fmt: skip
    sink.event("CircuitOpened", upstream="not-configured")
    sink.event("SomethingElse")
    s = samples(sink)
    key = (("model", "other"), ("region", "us-east-1"), ("upstream", "none"))
    assert s[("edge_router_requests_total", key)] == 1
    assert s[("edge_router_errors_total", (("error_class", "internal"), ("region", "us-east-1")))] == 1
    assert s[("edge_router_circuit_opened_total", (("region", "us-east-1"), ("upstream", "none")))] == 1
    assert s[("edge_router_events_total", (("event", "SomethingElse"), ("region", "us-east-1")))] == 1


def test_a_value_on_a_bucket_bound_counts_in_that_bucket() -> None:
    sink = PrometheusMetrics(build_config({}))
    sink.request(record(overhead_ms=0.25))  # exactly the 0.00025 s bound
    sink.request(record(overhead_ms=0.26))
    s = samples(sink)

    def bucket(le: str) -> float:
        return s[("edge_router_overhead_seconds_bucket", (("le", le), ("region", "local")))]

    assert (bucket("0.0001"), bucket("0.00025"), bucket("0.0005"), bucket("+Inf")) == (0, 1, 2, 2)
    count = s[("edge_router_overhead_seconds_count", (("region", "local"),))]
    total = s[("edge_router_overhead_seconds_sum", (("region", "local"),))]
    assert count == 2 and abs(total - 0.00051) < 1e-12


def test_two_sinks_never_share_series() -> None:
    one, two = PrometheusMetrics(build_config({})), PrometheusMetrics(build_config({}))
    one.request(record())
    assert not any(name == "edge_router_requests_total" for name, _ in samples(two))
