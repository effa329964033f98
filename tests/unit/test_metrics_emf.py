"""`EmfMetrics`: CloudWatch EMF documents for request records and events (SPEC §8)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from edge_router import observability as obs
from edge_router.observability import RequestRecord
from edge_router.runtime.emf import MAX_VALUES, EmfMetrics

WALL = 1_700_000_000.5
R, RU, RM, RE = ("Region",), ("Region", "Upstream"), ("Region", "Model"), ("Region", "ErrorClass")


class Lines:
    def __init__(self) -> None:
        self.writes: list[str] = []

    def __call__(self, text: str) -> None:
        self.writes.append(text)

    def docs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for text in self.writes for line in text.splitlines()]


def sink() -> tuple[EmfMetrics, Lines]:
    out = Lines()
    return EmfMetrics("eu-central-1", wall=lambda: WALL, write=out), out


def record(**changes: Any) -> RequestRecord:
    base: dict[str, Any] = dict(
        status=200, model="gpt-4.1", upstream="eu-central", latency_ms=41.23456,
        upstream_ms=40.0, overhead_ms=1.23456, ttfb_ms=38.5, attempts=1,
        prompt_tokens=10, completion_tokens=20, cost_usd=Decimal("0.00024"),
    )
    base.update(changes)
    return RequestRecord(**base)


def metric_sets(doc: dict[str, Any]) -> dict[str, set[tuple[str, ...]]]:
    """Metric name -> the dimension sets it is published under; checks EMF's structural rules."""
    out: dict[str, set[tuple[str, ...]]] = {}
    for directive in doc["_aws"]["CloudWatchMetrics"]:
        assert directive["Namespace"] == "EdgeRouter"
        for dims in directive["Dimensions"]:
            for name in dims:
                assert isinstance(doc[name], str), f"dimension {name} missing from the root"
        for metric in directive["Metrics"]:
            name = metric["Name"]
            assert name not in out, f"{name} in two directives"
            value = doc[name]
            values = value if isinstance(value, list) else [value]
            assert values and all(isinstance(v, int | float) for v in values)
            assert len(values) <= MAX_VALUES
            out[name] = {tuple(d) for d in directive["Dimensions"]}
    return out


def test_a_successful_request_is_one_line_with_every_metric_under_its_dimension_sets() -> None:
    metrics, out = sink()
    metrics.request(record())
    assert metrics.flush() == 1
    assert len(out.writes) == 1 and out.writes[0].endswith("\n")
    [doc] = out.docs()
    assert metric_sets(doc) == {
        "Requests": {R, RM, RU},
        "Latency": {R, RM}, "PromptTokens": {R, RM}, "CompletionTokens": {R, RM},
        "CostUSD": {R, RM},
        "UpstreamLatency": {R, RU}, "TimeToFirstByte": {R, RU},
        "Overhead": {R}, "Attempts": {R}, "Failovers": {R}, "Errors": {R},
    }
    values = {k: v for k, v in doc.items() if k != "_aws"}
    assert values == {
        "Region": "eu-central-1", "Model": "gpt-4.1", "Upstream": "eu-central",
        "Requests": 1, "Latency": 41.235, "Overhead": 1.235, "UpstreamLatency": 40.0,
        "TimeToFirstByte": 38.5, "Attempts": 1, "Failovers": 0, "Errors": 0,
        "PromptTokens": 10, "CompletionTokens": 20, "CostUSD": 0.00024,
    }
    assert doc["_aws"]["Timestamp"] == 1_700_000_000_500
    units = {m["Name"]: m["Unit"] for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {n for n, u in units.items() if u == "Milliseconds"} == {
        "Latency", "Overhead", "UpstreamLatency", "TimeToFirstByte"}
    assert units["CostUSD"] == "None" and units["Requests"] == "Count"


def test_a_failed_request_counts_under_its_error_class_and_has_no_upstream_dimension() -> None:
    metrics, out = sink()
    metrics.request(record(status=502, upstream=None, ttfb_ms=None, attempts=3,
                           error_class="upstream_5xx", prompt_tokens=0, completion_tokens=0,
                           cost_usd=None, model="other"))
    assert metrics.flush() == 1
    [doc] = out.docs()
    assert doc["ErrorClass"] == "upstream_5xx" and "Upstream" not in doc
    assert (doc["Errors"], doc["Failovers"], doc["Attempts"]) == (1, 2, 3)
    assert metric_sets(doc) == {
        "Requests": {R, RM}, "Latency": {R, RM}, "UpstreamLatency": {R}, "Overhead": {R},
        "Attempts": {R}, "Failovers": {R}, "Errors": {R, RE},
    }


def test_an_error_class_outside_the_fixed_set_is_reported_as_internal() -> None:
    metrics, out = sink()
    metrics.request(record(status=500, error_class="something-new"))
    metrics.flush()
    [doc] = out.docs()
    assert doc["ErrorClass"] == "internal"
    assert set(obs.ERROR_CLASSES) >= {doc["ErrorClass"]}


def test_records_with_the_same_dimensions_share_a_document_as_value_arrays() -> None:
    metrics, out = sink()
    metrics.request(record(latency_ms=10.0))
    metrics.request(record(latency_ms=20.0))
    metrics.request(record(model="other", cost_usd=None))
    assert metrics.flush() == 2
    first, second = out.docs()
    assert first["Latency"] == [10.0, 20.0] and first["Requests"] == [1, 1]
    assert second["Model"] == "other" and "CostUSD" not in second


def test_more_than_100_values_split_into_several_documents() -> None:
    metrics, out = sink()
    for _ in range(MAX_VALUES + 5):
        metrics.request(record())
    assert metrics.flush() == 2
    first, second = out.docs()
    assert len(first["Requests"]) == MAX_VALUES and len(second["Requests"]) == 5
    metric_sets(first), metric_sets(second)


def test_events_are_per_upstream_and_region_wide_and_probe_metrics_per_upstream_only() -> None:
    metrics, out = sink()
    metrics.event(obs.CIRCUIT_OPENED, upstream="us-west")
    metrics.event(obs.RATE_LIMITED, upstream="us-west")
    metrics.event(obs.RATE_LIMITED, upstream="us-west")
    metrics.event(obs.RETRY_BUDGET_EXHAUSTED)
    metrics.event(obs.UPSTREAM_AVAILABLE, upstream="us-east", value=0)
    metrics.event(obs.PROBE_LATENCY, upstream="us-east", value=12.5)
    assert metrics.flush() == 3
    by_key = {(d.get("Upstream")): d for d in out.docs()}
    west, region, east = by_key["us-west"], by_key[None], by_key["us-east"]
    assert metric_sets(west) == {"CircuitOpened": {R, RU}, "RateLimited": {R, RU}}
    assert (west["CircuitOpened"], west["RateLimited"]) == (1, [1, 1])
    assert metric_sets(region) == {"RetryBudgetExhausted": {R}}
    assert metric_sets(east) == {"UpstreamAvailable": {RU}, "ProbeLatency": {RU}}
    assert (east["UpstreamAvailable"], east["ProbeLatency"]) == (0, 12.5)
    units = {m["Name"]: m["Unit"] for m in east["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units == {"UpstreamAvailable": "Count", "ProbeLatency": "Milliseconds"}


def test_probe_metrics_need_an_upstream() -> None:
    metrics, _ = sink()
    with pytest.raises(ValueError, match="UpstreamAvailable needs an upstream"):
        metrics.event(obs.UPSTREAM_AVAILABLE, value=1)


def test_flush_empties_the_buffer_and_writes_nothing_when_empty() -> None:
    metrics, out = sink()
    assert metrics.flush() == 0 and out.writes == []
    metrics.request(record())
    metrics.flush()
    assert metrics.flush() == 0 and len(out.writes) == 1


def test_no_service_dimension_and_only_the_four_dimension_sets() -> None:
    metrics, out = sink()
    metrics.request(record(error_class="timeout", status=504))
    metrics.request(record())
    metrics.event(obs.UPSTREAM_AUTH_FAILED, upstream="eu-central")
    metrics.flush()
    for doc in out.docs():
        assert "service" not in {k.lower() for k in doc}
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            assert {tuple(d) for d in directive["Dimensions"]} <= {R, RU, RM, RE}


def test_a_failed_write_does_not_raise() -> None:
    def broken(text: str) -> None:
        raise OSError("stdout closed")

    metrics = EmfMetrics("us-east-1", write=broken)
    metrics.request(record())
    assert metrics.flush() == 1


def test_stdout_is_the_default_destination(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = EmfMetrics("us-east-1", wall=lambda: WALL)
    metrics.request(record())
    metrics.flush()
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["Region"] == "us-east-1"
