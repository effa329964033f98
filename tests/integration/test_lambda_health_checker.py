"""The health-checker Lambda fed `events/scheduled.json`, probing simulated upstreams over real
sockets and writing to a moto-server table; then routers in its region using what it wrote
(SPEC §6): a newer good probe closes a half-open breaker, and `/health` answers 503 while the
checker has found every upstream down within the last 3 minutes."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_router.clock import FakeClock
from edge_router.health_checker import HealthChecker, build_health_checker
from edge_router.lambda_app import RouterHandler, build_router_handler
from tests.integration.lambda_harness import (
    FakeContext,
    SimThread,
    emf_documents,
    event,
    invoke,
    library_logging_restored,
    router_environ,
    write_config,
)
from tests.support import moto_dynamodb
from tests.support.calls import CallCounter
from tests.support.moto_dynamodb import MotoTable

pytestmark = pytest.mark.integration

moto_endpoint = moto_dynamodb.moto_endpoint
moto_table = moto_dynamodb.moto_table

REGION = "us-west-1"
HOME = "ap-northeast"


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread(3, faults={"us-west": "refuse"}) as running:
        yield running


class Lambdas:
    """Builds the region's checker and routers on one table (and optionally one fake clock)."""

    def __init__(self, tmp_path: Path, sim: SimThread, table: MotoTable) -> None:
        self.tmp_path, self.sim, self.table = tmp_path, sim, table
        self.built: list[RouterHandler | HealthChecker] = []

    def environ(self, **sections: Any) -> dict[str, str]:
        raw = self.sim.config(home={REGION: HOME}, **sections)
        path = write_config(self.tmp_path / f"config-{len(self.built)}.yaml", raw)
        return router_environ(
            path, region=REGION, EDGE_ROUTER_HEALTH_STORE="dynamodb",
            EDGE_ROUTER_HEALTH_TABLE=self.table.name, EDGE_ROUTER_HEALTH_TABLE_REGION="us-east-1",
        )

    def checker(self, **kwargs: Any) -> HealthChecker:
        checker = build_health_checker(self.environ(), **kwargs)
        self.built.append(checker)
        return checker

    def router(self, *, clock: FakeClock | None = None, **sections: Any) -> RouterHandler:
        router = build_router_handler(self.environ(**sections), clock=clock)
        self.built.append(router)
        return router

    def item(self, upstream_id: str) -> dict[str, Any]:
        key = {"pk": {"S": f"upstream#{upstream_id}"}, "sk": {"S": f"observer#{REGION}"}}
        found: dict[str, Any] = self.table.client().get_item(
            TableName=self.table.name, Key=key)["Item"]
        return found


@pytest.fixture
def lambdas(tmp_path: Path, sim: SimThread, moto_table: MotoTable,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Lambdas]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_table.endpoint_url)
    made = Lambdas(tmp_path, sim, moto_table)
    with library_logging_restored():
        yield made
        for built in made.built:
            built.close()


def run(checker: Callable[[dict[str, Any], Any], dict[str, Any]]) -> dict[str, Any]:
    return checker(event("scheduled"), FakeContext(function_name="edge-router-HealthChecker"))


def test_the_checker_probes_every_upstream_writes_this_regions_items_and_emits_metrics(
    lambdas: Lambdas, sim: SimThread, capsys: pytest.CaptureFixture[str],
) -> None:
    calls = CallCounter()
    keys = {"ap-southeast": "sk-upstream-secret"}
    checker = lambdas.checker(on_store_call=calls, upstream_key=keys.get)
    summary = run(checker)

    assert {k: v["ok"] for k, v in summary["upstreams"].items()} == {
        "ap-northeast": True, "ap-southeast": True, "us-west": False}
    assert summary["upstreams"]["us-west"]["error"] == "connect"
    # one UpdateItem per upstream, nothing else (its IAM role may touch only upstream# items)
    assert calls == {"UpdateItem": 3}
    items = lambdas.table.client().scan(TableName=lambdas.table.name)["Items"]  # test-only Scan
    assert sorted((i["pk"]["S"], i["sk"]["S"]) for i in items) == [
        (f"upstream#{u}", f"observer#{REGION}") for u in ("ap-northeast", "ap-southeast", "us-west")
    ]
    for upstream_id, ok in (("ap-northeast", True), ("ap-southeast", True), ("us-west", False)):
        item = lambdas.item(upstream_id)
        assert item["probe_ok"] == {"BOOL": ok}
        assert ("probe_latency_ms" in item) is ok
        assert 3599 <= float(item["expires_at"]["N"]) - float(item["probed_at"]["N"]) <= 3601
        assert "state" not in item and "requests" not in item  # only the probe attributes
    # the probe is GET /models, with the upstream key where one is configured
    for upstream_id, authorization in (("ap-southeast", "Bearer sk-upstream-secret"),
                                       ("ap-northeast", None)):
        [probe] = sim.sim.requests(upstream_id)
        assert (probe["method"], probe["path"]) == ("GET", "/v1/models")
        assert probe["headers"].get("Authorization") == authorization

    out = capsys.readouterr().out
    docs = {d["Upstream"]: d for d in emf_documents(out)}
    assert set(docs) == {"ap-northeast", "ap-southeast", "us-west"}
    assert {u: d["UpstreamAvailable"] for u, d in docs.items()} == {
        "ap-northeast": 1, "ap-southeast": 1, "us-west": 0}
    assert {u for u, d in docs.items() if "ProbeLatency" in d} == {"ap-northeast", "ap-southeast"}
    for doc in docs.values():
        [directive] = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "EdgeRouter"
        assert directive["Dimensions"] == [["Region", "Upstream"]]
        assert doc["Region"] == REGION
    assert "sk-upstream-secret" not in out


def test_a_newer_good_probe_closes_a_half_open_breaker_without_a_trial_request(
    lambdas: Lambdas, sim: SimThread,
) -> None:
    clock = FakeClock()
    router = lambdas.router(clock=clock, breaker={"cooldown_s": 5},
                            health={"sync_interval_s": 1})
    checker = lambdas.checker(clock=clock)
    # GIVEN HOME's circuit opened in this region's router
    sim.set_fault(HOME, "refuse")
    for _ in range(3):
        invoke(router, "chat")
    assert lambdas.item(HOME)["state"] == {"S": "open"}
    # WHEN HOME recovers, the cooldown passes, and the checker then finds HOME reachable
    sim.set_fault(HOME, "ok")
    clock.advance(6)
    run(checker)
    assert lambdas.item(HOME)["probe_ok"] == {"BOOL": True}
    chats = sim.requests(HOME)
    # THEN the router's next sync closes the breaker from the probe alone
    clock.advance(1.1)
    [home] = [u for u in invoke(router, "status").json()["upstreams"] if u["id"] == HOME]
    assert home["state"] == "closed"
    assert sim.requests(HOME) == chats  # no trial request was needed
    answer = invoke(router, "chat")
    assert (answer.headers["x-edge-upstream"], answer.headers["x-edge-attempts"]) == (HOME, "1")
    assert lambdas.item(HOME)["state"] == {"S": "closed"}


def test_health_is_503_while_the_checker_found_every_upstream_down_in_the_last_3_minutes(
    lambdas: Lambdas, sim: SimThread,
) -> None:
    clock = FakeClock()
    checker = lambdas.checker(clock=clock)
    for upstream_id in sim.ids:
        sim.set_fault(upstream_id, "refuse")
    run(checker)
    # a fresh container, that has never sent a request, takes the checker's view
    router = lambdas.router(clock=clock, health={"sync_interval_s": 10})
    answer = invoke(router, "health")
    assert answer.status == 503 and answer.headers["x-edge-region"] == REGION
    assert answer.json() == {
        "status": "down", "region": REGION,
        "usable_upstreams": ["ap-northeast", "ap-southeast", "us-west"],
        "reason": "this region's health checker found every upstream unreachable",
    }
    # one upstream reachable again at the next probe: 200 after the router's next sync
    sim.set_fault("ap-southeast", "ok")
    clock.advance(60)
    run(checker)
    assert invoke(router, "health").status == 200
    # and probes older than 3 minutes no longer count
    for upstream_id in sim.ids:
        sim.set_fault(upstream_id, "refuse")
    clock.advance(60)
    run(checker)
    assert invoke(router, "health").status == 503
    clock.advance(181)
    assert invoke(router, "health").status == 200


def test_the_handler_module_builds_the_checker_from_the_environment_at_import(
    tmp_path: Path, sim: SimThread, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = write_config(tmp_path / "checker.yaml", sim.config())
    for name, value in router_environ(path, region="eu-central-1").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, "functions.health_checker.handler", raising=False)
    with library_logging_restored():
        module = importlib.import_module("functions.health_checker.handler")
        try:
            summary = run(module.handler)
            assert summary["region"] == "eu-central-1"
            assert [v["ok"] for v in summary["upstreams"].values()] == [True, True, False]
        finally:
            module.handler.close()
            del sys.modules["functions.health_checker.handler"]
