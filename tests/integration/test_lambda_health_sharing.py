"""Routers in Lambda sharing upstream health through the DynamoDB table (SPEC §6), on a real moto
server: cross-region demotion within one sync interval, fail-open when the table is unreachable
or silent, and how many DynamoDB calls 1,000 requests cost."""

from __future__ import annotations

import math
import socket
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
    """Routers on the DynamoDB store; the table's replica and endpoint come from the caller."""

    def make(region: str, *, table: str, interval_s: float, clock: Clock | None = None,
             calls: CallCounter | None = None, **sections: Any) -> RouterHandler:
        environ = lambdas.environ(region, home={SEOUL: HOME, FRANKFURT: HOME}, health_table=table,
                                  health={"sync_interval_s": interval_s}, **sections)
        return lambdas.router(environ, clock=clock, on_store_call=calls)

    return make


def test_a_circuit_opened_in_one_region_sends_that_upstream_last_in_another_within_one_interval(
    make_router: Factory, sim: SimThread, moto_table: MotoTable, monkeypatch: pytest.MonkeyPatch,
) -> None:
    interval = 0.2
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_table.endpoint_url)
    seoul = make_router(SEOUL, table=moto_table.name, interval_s=interval)
    frankfurt = make_router(FRANKFURT, table=moto_table.name, interval_s=interval)
    # GIVEN both regions send to HOME first
    assert invoke(frankfurt, "chat").headers["x-edge-upstream"] == HOME

    # WHEN Seoul sees HOME die: three connect failures in a row open its circuit
    sim.set_fault(HOME, "refuse")
    for _ in range(3):
        assert invoke(seoul, "chat").headers["x-edge-upstream"] == "ap-southeast"
    opened = time.monotonic()
    item = moto_table.client().get_item(
        TableName=moto_table.name,
        Key={"pk": {"S": f"upstream#{HOME}"}, "sk": {"S": f"observer#{SEOUL}"}},
    )["Item"]
    assert item["state"] == {"S": "open"}  # written before Seoul's invocation returned
    sim.set_fault(HOME, "ok")  # HOME answers again: only the shared item can move it

    # THEN within one interval Frankfurt orders HOME last (first try the next one, one attempt)
    while (answer := invoke(frankfurt, "chat")).headers["x-edge-upstream"] == HOME:
        assert time.monotonic() - opened < interval + 0.2, "not demoted within one interval"
        time.sleep(0.01)
    assert time.monotonic() - opened < interval + 0.2
    assert (answer.headers["x-edge-upstream"], answer.headers["x-edge-attempts"]) == (
        "ap-southeast", "1")
    home_requests = sim.requests(HOME)
    for _ in range(5):
        assert invoke(frankfurt, "chat").headers["x-edge-upstream"] == "ap-southeast"
    assert sim.requests(HOME) == home_requests
    status = invoke(frankfurt, "status").json()
    [home] = [u for u in status["upstreams"] if u["id"] == HOME]
    assert home["state"] == "closed" and home["remote_open_until"] > time.time()
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
    interval = 0.3
    url = silent_endpoint if endpoint == "silent" else f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)
    calls = CallCounter()
    router = make_router(SEOUL, table="edge-router-health", interval_s=interval, calls=calls)
    durations: list[float] = []
    started = time.monotonic()
    while time.monotonic() - started < 1.0:
        t0 = time.perf_counter()
        answer = invoke(router, "chat")
        durations.append(time.perf_counter() - t0)
        assert answer.status == 200 and answer.headers["x-edge-upstream"] == HOME
    elapsed = time.monotonic() - started
    syncs = math.floor(elapsed / interval) + 1
    slow = [d for d in durations if d > 0.1]
    # every sync was attempted (one read each), and no request waited on the store more than once
    assert 1 <= calls["BatchGetItem"] <= syncs
    assert len(slow) <= calls["BatchGetItem"]
    assert max(durations) < 0.2 + 0.1
    if endpoint == "silent":  # each sync really waited for its bound, then gave up
        assert len(slow) == calls["BatchGetItem"] and min(slow) > 0.18
    fast = sorted(d for d in durations if d <= 0.1)
    assert len(fast) > 10 * len(slow) and fast[len(fast) // 2] < 0.02


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
