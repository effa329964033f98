"""The health-checker Lambda fed `events/scheduled.json`, probing simulated upstreams over real
sockets and writing to a moto-server table; then routers in its region using what it wrote
(SPEC §6): a newer good probe closes a half-open breaker, and `/health` answers 503 while the
checker has found every upstream down within the last 3 minutes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge_router.clock import FakeClock
from edge_router.runtime.health_checker import HealthChecker
from edge_router.runtime.lambda_buffered import RouterHandler
from tests.integration.lambda_harness import (
    HOME,
    FakeContext,
    Lambdas,
    SimThread,
    cold_start,
    emf_documents,
    event,
    invoke,
    router_environ,
    write_config,
)
from tests.support.calls import CallCounter
from tests.support.moto_dynamodb import MotoTable

pytestmark = pytest.mark.integration

REGION = "us-west-1"


@pytest.fixture
def sim_faults() -> dict[str, str]:
    return {"us-west": "refuse"}


class Region:
    """The region's checker and routers, on one table (and optionally one fake clock)."""

    def __init__(self, lambdas: Lambdas, table: MotoTable) -> None:
        self.lambdas, self.table = lambdas, table

    def checker(self, **kwargs: Any) -> HealthChecker:
        return self.lambdas.checker(
            self.lambdas.environ(REGION, health_table=self.table.name), **kwargs)

    def router(self, *, clock: FakeClock | None = None, **sections: Any) -> RouterHandler:
        return self.lambdas.router(
            self.lambdas.environ(REGION, health_table=self.table.name, **sections), clock=clock)

    def item(self, upstream_id: str) -> dict[str, Any]:
        key = {"pk": {"S": f"upstream#{upstream_id}"}, "sk": {"S": f"observer#{REGION}"}}
        found: dict[str, Any] = self.table.client().get_item(
            TableName=self.table.name, Key=key)["Item"]
        return found


@pytest.fixture
def region(moto_table: MotoTable, monkeypatch: pytest.MonkeyPatch, lambdas: Lambdas) -> Region:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_table.endpoint_url)
    return Region(lambdas, moto_table)


def run(checker: Callable[[dict[str, Any], Any], dict[str, Any]]) -> dict[str, Any]:
    return checker(event("scheduled"), FakeContext(function_name="edge-router-HealthChecker"))


def test_the_checker_probes_every_upstream_writes_this_regions_items_and_emits_metrics(
    region: Region, sim: SimThread, capsys: pytest.CaptureFixture[str],
) -> None:
    calls = CallCounter()
    keys = {"ap-southeast": "sk-upstream-secret"}
    checker = region.checker(on_store_call=calls, upstream_key=keys.get)
    summary = run(checker)

    assert {k: v["ok"] for k, v in summary["upstreams"].items()} == {
        "ap-northeast": True, "ap-southeast": True, "us-west": False}
    assert summary["upstreams"]["us-west"]["error"] == "connect"
    # one UpdateItem per upstream, nothing else (its IAM role may touch only upstream# items)
    assert calls == {"UpdateItem": 3}
    items = region.table.client().scan(TableName=region.table.name)["Items"]  # test-only Scan
    assert sorted((i["pk"]["S"], i["sk"]["S"]) for i in items) == [
        (f"upstream#{u}", f"observer#{REGION}") for u in ("ap-northeast", "ap-southeast", "us-west")
    ]
    for upstream_id, ok in (("ap-northeast", True), ("ap-southeast", True), ("us-west", False)):
        item = region.item(upstream_id)
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
    region: Region, sim: SimThread,
) -> None:
    clock = FakeClock()
    router = region.router(clock=clock, breaker={"cooldown_s": 5},
                            health={"sync_interval_s": 1})
    checker = region.checker(clock=clock)
    # GIVEN HOME's circuit opened in this region's router
    sim.set_fault(HOME, "refuse")
    for _ in range(3):
        invoke(router, "chat")
    assert region.item(HOME)["state"] == {"S": "open"}
    # WHEN HOME recovers, the cooldown passes, and the checker then finds HOME reachable
    sim.set_fault(HOME, "ok")
    clock.advance(6)
    run(checker)
    assert region.item(HOME)["probe_ok"] == {"BOOL": True}
    chats = sim.requests(HOME)
    # THEN the router's next sync closes the breaker from the probe alone
    clock.advance(1.1)
    [home] = [u for u in invoke(router, "status").json()["upstreams"] if u["id"] == HOME]
    assert home["state"] == "closed"
    assert sim.requests(HOME) == chats  # no trial request was needed
    answer = invoke(router, "chat")
    assert (answer.headers["x-edge-upstream"], answer.headers["x-edge-attempts"]) == (HOME, "1")
    assert region.item(HOME)["state"] == {"S": "closed"}


def test_health_is_503_while_the_checker_found_every_upstream_down_in_the_last_3_minutes(
    region: Region, sim: SimThread,
) -> None:
    clock = FakeClock()
    checker = region.checker(clock=clock)
    for upstream_id in sim.ids:
        sim.set_fault(upstream_id, "refuse")
    run(checker)
    # a fresh container, that has never sent a request, takes the checker's view
    router = region.router(clock=clock, health={"sync_interval_s": 10})
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
    environ = router_environ(path, region="eu-central-1")
    with cold_start("functions.health_checker.handler", environ, monkeypatch) as module:
        summary = run(module.handler)
        assert summary["region"] == "eu-central-1"
        assert [v["ok"] for v in summary["upstreams"].values()] == [True, True, False]
