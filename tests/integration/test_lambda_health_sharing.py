"""Routers in Lambda sharing upstream health through the DynamoDB table (SPEC §6), on a real moto
server: cross-region demotion within one sync interval, fail-open when the table is unreachable
or silent, and how many DynamoDB calls 1,000 requests cost."""

from __future__ import annotations

import math
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from edge_router.clock import Clock, FakeClock
from edge_router.runtime.lambda_buffered import RouterHandler
from tests.integration.lambda_harness import HOME, Lambdas, SimThread, invoke
from tests.support.calls import CallCounter
from tests.support.moto_dynamodb import MotoTable

pytestmark = pytest.mark.integration

SEOUL, FRANKFURT = "ap-northeast-2", "eu-central-1"
Factory = Callable[..., RouterHandler]


@pytest.fixture
def make_router(lambdas: Lambdas) -> Factory:
    """Routers on the DynamoDB store; the table's replica and endpoint come from the caller.
    Each sync is bounded by `timeout_ms` (the harness's generous default unless given)."""

    def make(region: str, *, table: str, interval_s: float, clock: Clock | None = None,
             calls: CallCounter | None = None, timeout_ms: float | None = None,
             **sections: Any) -> RouterHandler:
        health: dict[str, float] = {"sync_interval_s": interval_s}
        if timeout_ms is not None:
            health["timeout_ms"] = timeout_ms
        environ = lambdas.environ(region, home={SEOUL: HOME, FRANKFURT: HOME}, health_table=table,
                                  health=health, **sections)
        return lambdas.router(environ, clock=clock, on_store_call=calls)

    return make


def test_a_circuit_opened_in_one_region_sends_that_upstream_last_in_another_within_one_interval(
    make_router: Factory, sim: SimThread, moto_table: MotoTable, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Both regions read one injected clock (the table's times are wall times, shared), so "within
    # one interval" is counted in sync intervals, not in how fast this machine builds a client.
    clock, interval = FakeClock(), 0.5
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_table.endpoint_url)
    seoul, frankfurt = (make_router(region, table=moto_table.name, interval_s=interval,
                                    clock=clock) for region in (SEOUL, FRANKFURT))
    # GIVEN both regions send to HOME first (Frankfurt's first request synced: the next is due
    # one interval later)
    assert invoke(frankfurt, "chat").headers["x-edge-upstream"] == HOME

    # WHEN Seoul sees HOME die: three connect failures in a row open its circuit
    sim.set_fault(HOME, "refuse")
    for _ in range(3):
        assert invoke(seoul, "chat").headers["x-edge-upstream"] == "ap-southeast"
    item = moto_table.client().get_item(
        TableName=moto_table.name,
        Key={"pk": {"S": f"upstream#{HOME}"}, "sk": {"S": f"observer#{SEOUL}"}},
    )["Item"]
    assert item["state"] == {"S": "open"}  # written before Seoul's invocation returned
    sim.set_fault(HOME, "ok")  # HOME answers again: only the shared item can move it

    # THEN before the interval is up Frankfurt has not read the table (one read per interval) ...
    clock.advance(interval / 2)
    assert invoke(frankfurt, "chat").headers["x-edge-upstream"] == HOME
    # ... and the first request once it is up orders HOME last (the next one first, one attempt)
    clock.advance(interval / 2)
    answer = invoke(frankfurt, "chat")
    assert (answer.headers["x-edge-upstream"], answer.headers["x-edge-attempts"]) == (
        "ap-southeast", "1")
    home_requests = sim.requests(HOME)
    for _ in range(5):
        assert invoke(frankfurt, "chat").headers["x-edge-upstream"] == "ap-southeast"
    assert sim.requests(HOME) == home_requests
    status = invoke(frankfurt, "status").json()
    [home] = [u for u in status["upstreams"] if u["id"] == HOME]
    assert home["state"] == "closed" and home["remote_open_until"] > clock.wall()
    assert [o["region"] for o in home["observers"] if o["state"] == "open"] == [SEOUL]

    # AND it is last, never skipped: with the other two failing, Frankfurt still reaches HOME
    sim.set_fault("ap-southeast", "status:503")
    sim.set_fault("us-west", "status:503")
    answer = invoke(frankfurt, "chat")
    assert (answer.status, answer.headers["x-edge-upstream"]) == (200, HOME)
    assert answer.headers["x-edge-attempts"] == "3"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A TCP endpoint that accepts connections (in the kernel's backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(128)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("endpoint", ["closed", "silent"])
def test_with_the_table_unreachable_requests_succeed_and_each_sync_costs_at_most_200_ms(
    make_router: Factory, silent_endpoint: str, monkeypatch: pytest.MonkeyPatch, endpoint: str,
) -> None:
    # Sync intervals are counted on an injected clock (a sync every 4th request); the 200 ms
    # bound is real time, so only the syncing requests may take it, and none much longer.
    clock, interval, step, bound = FakeClock(), 0.5, 0.125, 0.2
    url = silent_endpoint if endpoint == "silent" else f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)
    calls = CallCounter()
    router = make_router(SEOUL, table="edge-router-health", interval_s=interval, clock=clock,
                         calls=calls, timeout_ms=bound * 1000)
    durations: list[float] = []
    for _ in range(16):
        t0 = time.perf_counter()
        answer = invoke(router, "chat")
        durations.append(time.perf_counter() - t0)
        assert answer.status == 200 and answer.headers["x-edge-upstream"] == HOME
        clock.advance(step)
    syncing, between = durations[::4], [d for i, d in enumerate(durations) if i % 4]
    # THEN every sync was attempted, one read each, and no request in between called the store
    assert calls["BatchGetItem"] == len(syncing) == 4
    # AND a sync gave up at the bound: far below botocore's own timeout (10 s for the harness's
    # patient clients), which an unbounded sync of the silent table would wait; requests in
    # between did not wait. 2 s of slack: one sync took 0.77 s on a loaded CI machine.
    assert max(syncing) < 2.0
    if endpoint == "silent":  # each sync really waited for its bound, then gave up
        assert min(syncing) > bound * 0.9
    assert statistics.median(between) < bound / 2


def test_dynamodb_calls_per_1000_requests(
    make_router: Factory, sim: SimThread, moto_table: MotoTable, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_table.endpoint_url)
    clock, calls, interval = FakeClock(), CallCounter(), 0.1
    router = make_router(SEOUL, table=moto_table.name, interval_s=interval, clock=clock,
                         calls=calls)
    # GIVEN 1,000 requests over 1 s of (fake) time, 1 ms apart; HOME dies half way through
    for i in range(1000):
        if i == 500:
            sim.set_fault(HOME, "refuse")
        assert invoke(router, "chat").status == 200
        clock.advance(0.001)
    syncs = math.ceil(1.0 / interval)  # the first request's, then one per interval
    # THEN one read per sync interval (SPEC: at most 2), never a Scan
    assert set(calls) == {"BatchGetItem", "UpdateItem"}
    assert syncs <= calls["BatchGetItem"] <= syncs + 1
    # and writes only on flushes (one item per upstream with new data) and the one transition:
    # HOME alone before it died, HOME and ap-southeast after; HOME's circuit opened once
    flushes_before, flushes_after = 5 - 1, syncs - 5
    assert calls["UpdateItem"] <= flushes_before + 2 * (flushes_after + 1) + 1
    assert calls["UpdateItem"] >= flushes_before + flushes_after
    items = moto_table.client().scan(TableName=moto_table.name)["Items"]  # test-only Scan
    by_upstream = {i["pk"]["S"]: i for i in items}
    assert by_upstream[f"upstream#{HOME}"]["state"] == {"S": "open"}
    flushed = sum(int(i["requests"]["N"]) for i in items if "requests" in i)
    assert 900 <= flushed <= 1003  # all but the last interval's, which is still pending
