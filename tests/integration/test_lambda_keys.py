"""Keys mode in the Lambda handlers (SPEC §7), on a moto-server table: router keys are looked up
by hash in the health table, upstreams get the router's own key, probes carry it too, and
neither key is ever written to stdout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_router.keys.dynamodb import DynamoKeyStore
from edge_router.keys.tokens import KeyRecord, generate_key, hash_key
from edge_router.runtime.health_checker import build_health_checker
from edge_router.runtime.lambda_buffered import build_router_handler
from tests.integration.lambda_harness import (
    HOME,
    FakeContext,
    SimThread,
    event,
    invoke,
    library_logging_restored,
    router_environ,
    write_config,
)
from tests.support.moto_dynamodb import MotoTable, patient_clients

pytestmark = pytest.mark.integration

REGION = "eu-central-1"
UPSTREAM_KEY = "hs-upstream-0123456789"


def with_authorization(name: str, authorization: str) -> dict[str, Any]:
    data = event(name)
    data["headers"] = {**data["headers"], "authorization": authorization}
    return data


@pytest.fixture
def sim_count() -> int:
    return 2


@pytest.fixture
def env(tmp_path: Path, moto_table: MotoTable, monkeypatch: pytest.MonkeyPatch,
        sim: SimThread) -> Iterator[dict[str, str]]:
    """Keys mode, with every upstream's key in SIM_UPSTREAM_KEY."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_table.endpoint_url)
    patient_clients(monkeypatch)
    with library_logging_restored():
        raw = sim.config(home={REGION: HOME})
        for upstream in raw["upstreams"]:
            upstream["api_key_env"] = "SIM_UPSTREAM_KEY"
        path = write_config(tmp_path / "keys.yaml", raw)
        yield router_environ(
            path, region=REGION, health_table=moto_table.name,
            health_table_region=moto_table.region, EDGE_ROUTER_AUTH_MODE="keys",
            SIM_UPSTREAM_KEY=UPSTREAM_KEY,
        )


def test_router_keys_are_checked_in_the_table_and_upstreams_get_the_routers_key(
    env: dict[str, str], sim: SimThread, moto_table: MotoTable,
    capsys: pytest.CaptureFixture[str],
) -> None:
    router_key = generate_key()
    DynamoKeyStore(table=moto_table.name, client=moto_table.client()).create(
        KeyRecord(name="team-a", key_hash=hash_key(router_key), created_at=1.0))
    handler = build_router_handler(env)
    try:
        answer = handler(with_authorization("chat", f"Bearer {router_key}"), FakeContext())
        assert answer["statusCode"] == 200
        [seen] = sim.sim.requests(HOME)
        assert seen["headers"]["Authorization"] == f"Bearer {UPSTREAM_KEY}"
        # the event's own credential is not a router key
        refused = invoke(handler, "chat")
        assert refused.status == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
        assert sim.requests(HOME) == 1
    finally:
        handler.close()
    checker = build_health_checker(env)
    try:
        summary = checker(event("scheduled"), FakeContext())
        assert all(v["ok"] for v in summary["upstreams"].values())
        probes = [r for r in sim.sim.requests(HOME) if r["path"] == "/v1/models"]
        assert [p["headers"]["Authorization"] for p in probes] == [f"Bearer {UPSTREAM_KEY}"]
    finally:
        checker.close()
    out = capsys.readouterr().out
    assert router_key not in out and UPSTREAM_KEY not in out and "sk-test" not in out
