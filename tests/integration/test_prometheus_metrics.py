"""`GET /metrics`: the app in front of simulated upstreams, real traffic, and the exposition read
back with `prometheus_client`'s own parser: every count must match what was sent."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from edge_router.api.app import create_app
from edge_router.build import build_deps
from edge_router.config import build_config
from edge_router.observability import ERROR_CLASSES, CountingMetrics
from edge_router.prometheus_metrics import PrometheusMetrics
from edge_router.simulator import Simulator

from .router_harness import AUTH, CHAT, sim_config

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def sim() -> Simulator:
    async with Simulator(3, profile="fast") as s:
        yield s  # type: ignore[misc]


@asynccontextmanager
async def app_client(sim: Simulator, **sections: Any) -> AsyncIterator[httpx.AsyncClient]:
    config = build_config(sim_config(sim, **sections), region="eu-central-1")
    deps = build_deps(config, metrics=PrometheusMetrics(config), rng=random.Random(0))
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        try:
            yield client
        finally:
            await deps.service.client.close()


def scrape(text: str) -> Samples:
    """Every sample of the exposition, keyed by (name, sorted labels)."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def stream_usage(text: str) -> dict[str, int]:
    """The `usage` of an SSE answer's chunks."""
    for line in text.splitlines():
        if line.startswith("data: {") and '"usage"' in line:
            usage = json.loads(line[6:]).get("usage")
            if usage:
                return {k: v for k, v in usage.items() if isinstance(v, int)}
    raise AssertionError("the stream carried no usage")


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted({"region": "eu-central-1", **labels}.items()))), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


async def test_metrics_count_the_traffic_sent(sim: Simulator) -> None:
    # GIVEN a router with the Prometheus sink
    async with app_client(sim) as client:
        # WHEN it answers 4 chats at home, 1 of an unpriced model, 1 stream, 2 after a failover
        # and 1 that every upstream fails
        costs, tokens = Decimal(0), Counter[str]()
        for _ in range(4):
            r = await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
            assert r.status_code == 200
            costs += Decimal(r.headers["x-edge-cost-usd"])
            tokens.update(r.json()["usage"])
        odd = await client.post("/v1/chat/completions", headers=AUTH,
                                json={**CHAT, "model": "llama-from-a-client-1234"})
        assert odd.status_code == 200
        stream = await client.post("/v1/chat/completions", json={
            **CHAT, "stream": True, "stream_options": {"include_usage": True}},
                                   headers=AUTH)
        assert stream.status_code == 200
        tokens.update(stream_usage(stream.text))
        await sim.set_fault("ap-northeast", "status:503,count=2")
        for _ in range(2):
            r = await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
            assert (r.status_code, r.headers["x-edge-attempts"]) == (200, "2")
            costs += Decimal(r.headers["x-edge-cost-usd"])
            tokens.update(r.json()["usage"])
        for upstream_id in sim.ids:
            await sim.set_fault(upstream_id, "status:503,count=1")
        failed = await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        assert failed.status_code == 502
        response = await client.get("/metrics")

    # THEN the exposition parses, and every series counts exactly that
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    s = scrape(response.text)
    R = "edge_router_requests_total"
    assert value(s, R, model="gpt-4.1", upstream="ap-northeast") == 4 + 1  # + the stream
    assert value(s, R, model="gpt-4.1", upstream="ap-southeast") == 2
    assert value(s, R, model="other", upstream="ap-northeast") == 1  # unknown model folds
    assert value(s, R, model="gpt-4.1", upstream="none") == 1  # the 502
    assert total(s, R) == 9
    assert value(s, "edge_router_attempts_total") == 4 + 1 + 1 + 2 * 2 + 3
    assert value(s, "edge_router_failovers_total") == 2 + 2
    assert value(s, "edge_router_errors_total", error_class="upstream_5xx") == 1
    assert total(s, "edge_router_errors_total") == 1
    assert value(s, "edge_router_latency_seconds_count", model="gpt-4.1") == 8
    assert value(s, "edge_router_latency_seconds_count", model="other") == 1
    assert value(s, "edge_router_overhead_seconds_count") == 9
    assert value(s, "edge_router_time_to_first_byte_seconds_count", upstream="ap-southeast") == 2
    # tokens and cost as the answers' usage said (the stream's from its last chunk); gpt-4.1
    # costs $8 per million tokens either way, which prices the stream that has no cost header
    assert value(s, "edge_router_prompt_tokens_total", model="gpt-4.1") == tokens["prompt_tokens"]
    assert value(s, "edge_router_completion_tokens_total", model="gpt-4.1") == tokens[
        "completion_tokens"]
    both = tokens["prompt_tokens"] + tokens["completion_tokens"]
    assert costs < Decimal(both) * 8 / 1_000_000  # the headers leave the stream out
    assert value(s, "edge_router_cost_usd_total", model="gpt-4.1") == pytest.approx(both * 8e-6)
    assert value(s, "edge_router_cost_usd_total", model="other") == 0  # unpriced
    assert value(s, "edge_router_upstream_available", upstream="ap-northeast") == 1
    # bounded labels only
    for (name, labels), _ in s.items():
        d = dict(labels)
        assert d.pop("region") == "eu-central-1", name
        assert d.get("upstream", "none") in {*sim.ids, "none"}, (name, d)
        assert d.get("model", "other") in {"gpt-4.1", "claude-sonnet-4.5", "gemini-2.5-flash",
                                           "deepseek-v3.2", "other"}, (name, d)
        assert d.get("error_class", "internal") in ERROR_CLASSES, (name, d)


async def test_a_breaker_that_opens_shows_in_counters_and_availability(sim: Simulator) -> None:
    async with app_client(sim, breaker={"consecutive_failures": 1, "cooldown_s": 60}) as client:
        await sim.set_fault("ap-northeast", "reset")
        r = await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        assert r.status_code == 200
        await sim.set_fault("ap-southeast", "status:429,retry_after=30")
        await sim.set_fault("us-west", "status:429,retry_after=30")
        limited = await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        assert limited.status_code == 429
        s = scrape((await client.get("/metrics")).text)
    assert value(s, "edge_router_circuit_opened_total", upstream="ap-northeast") == 1
    assert value(s, "edge_router_upstream_available", upstream="ap-northeast") == 0
    assert value(s, "edge_router_upstream_available", upstream="us-west") == 1
    assert value(s, "edge_router_rate_limited_total", upstream="ap-southeast") == 1
    assert value(s, "edge_router_rate_limited_total", upstream="us-west") == 1
    assert value(s, "edge_router_errors_total", error_class="rate_limited") == 1


async def test_without_a_prometheus_sink_metrics_is_404(sim: Simulator) -> None:
    config = build_config(sim_config(sim))
    deps = build_deps(config, metrics=CountingMetrics())  # e.g. under Lambda: EMF
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        response = await client.get("/metrics")
    assert response.status_code == 404
    assert response.json()["error"] == {"message": "Unknown path: /metrics",
                                        "type": "invalid_request_error", "param": None,
                                        "code": "not_found"}
