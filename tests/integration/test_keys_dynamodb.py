"""Router keys in the health table (moto server over HTTP): the item layout, `GetItem`-only
lookups, revocation, and a keys-mode router in front of simulated upstreams that require the
upstream key (`require_key`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge_router.api.app import create_app
from edge_router.build import build_deps
from edge_router.clock import FakeClock
from edge_router.config import build_config
from edge_router.health.dynamodb import build_client
from edge_router.keys.build import build_auth
from edge_router.keys.dynamodb import DynamoKeyStore
from edge_router.keys.store import KeyExists, KeyNotFound, KeyStoreError
from edge_router.keys.tokens import KeyRecord, generate_key, hash_key
from edge_router.simulator import Simulator
from tests.integration.router_harness import CHAT, sim_config
from tests.support import moto_dynamodb
from tests.support.calls import CallCounter
from tests.support.moto_dynamodb import MotoTable

moto_endpoint = moto_dynamodb.moto_endpoint  # fixtures, used by name
moto_table = moto_dynamodb.moto_table

UPSTREAM_KEY = "hs-upstream-7d1f0c2e9b"
EDGE_ROUTER = str(Path(sys.executable).with_name("edge-router"))


def store(table: MotoTable, calls: CallCounter | None = None, *, wire: str = "botocore"
          ) -> DynamoKeyStore:  # fmt: skip
    """The store on botocore's client, or (`wire="http"`) on the router's own (`aws.dynamodb`)."""
    client = table.client() if wire == "botocore" else moto_dynamodb.http_client(table.endpoint_url)
    return DynamoKeyStore(table=table.name, client=client, on_call=calls)


both_clients = pytest.mark.parametrize("wire", ["botocore", "http"])


def whole_table(table: MotoTable) -> list[dict[str, Any]]:
    """Every item (a test may Scan; the router never does)."""
    items: list[dict[str, Any]] = table.client().scan(TableName=table.name)["Items"]
    return items


@both_clients
async def test_create_find_list_revoke(moto_table: MotoTable, wire: str) -> None:
    calls = CallCounter()
    keys = store(moto_table, calls, wire=wire)
    key = generate_key()
    keys.create(KeyRecord("alice", hash_key(key), 1_700_000_000.5, ("gpt-4.1",)))

    found = await keys.find(hash_key(key))
    assert found == KeyRecord("alice", hash_key(key), 1_700_000_000.5, ("gpt-4.1",))
    assert dict(calls) == {"GetItem": 1}
    assert (await keys.find(hash_key(generate_key()))) is None

    assert [(r.name, r.active) for r in keys.records()] == [("alice", True)]
    keys.revoke("alice", at=1_700_000_100.0)
    assert (await keys.find(hash_key(key))) is None
    assert [(r.name, r.revoked_at) for r in keys.records()] == [("alice", 1_700_000_100.0)]


async def test_items_hold_hashes_only_and_never_expire(moto_table: MotoTable) -> None:
    key = generate_key()
    store(moto_table).create(KeyRecord("alice", hash_key(key), 1.0))
    items = whole_table(moto_table)
    text = json.dumps(items)
    assert key not in text and key.removeprefix("sk-edge-") not in text
    assert {(i["pk"]["S"], i["sk"]["S"]) for i in items} == {
        (f"key#{hash_key(key)}", "key"), ("keys", "name#alice"),
    }
    assert all("expires_at" not in i for i in items)  # the table's TTL must not eat keys


@both_clients  # refused transactions: TransactionCanceledException with its reasons
def test_names_are_unique_among_active_keys(moto_table: MotoTable, wire: str) -> None:
    keys = store(moto_table, wire=wire)
    keys.create(KeyRecord("alice", hash_key("sk-edge-1"), 1.0))
    with pytest.raises(KeyExists):
        keys.create(KeyRecord("alice", hash_key("sk-edge-2"), 2.0))
    with pytest.raises(KeyNotFound):
        keys.revoke("bob", at=3.0)
    keys.revoke("alice", at=3.0)
    with pytest.raises(KeyNotFound):
        keys.revoke("alice", at=4.0)
    keys.create(KeyRecord("alice", hash_key("sk-edge-3"), 5.0))  # a revoked name is reusable


async def test_unreachable_table_is_a_store_error() -> None:
    client = build_client(region_name="us-east-1", endpoint_url="http://127.0.0.1:9", timeout_s=0.2)
    with pytest.raises(KeyStoreError) as info:
        await DynamoKeyStore(table="t", client=client).find(hash_key("sk-edge-x"))
    assert "sk-edge-x" not in str(info.value)


def test_cli_writes_to_the_table(moto_table: MotoTable, tmp_path: Path) -> None:
    env = {**os.environ, "AWS_ENDPOINT_URL_DYNAMODB": moto_table.endpoint_url,
           "AWS_DEFAULT_REGION": moto_table.region}
    run = [EDGE_ROUTER, "keys"]
    table = ["--table", moto_table.name]
    created = subprocess.run([*run, "create", "--name", "ci", "--models", "gpt-4.1", *table],
                             env=env, capture_output=True, text=True, cwd=tmp_path, check=True)
    key = created.stdout.strip()
    assert key.startswith("sk-edge-")
    listed = subprocess.run([*run, "list", "--json", *table], env=env, capture_output=True,
                            text=True, cwd=tmp_path, check=True)
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["models"], r["status"]) for r in rows] == [("ci", ["gpt-4.1"], "active")]
    assert key not in listed.stdout and hash_key(key) not in listed.stdout
    assert key not in json.dumps(whole_table(moto_table))
    revoked = subprocess.run([*run, "revoke", "--name", "ci", *table], env=env,
                             capture_output=True, text=True, cwd=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    assert not (tmp_path / "edge-router-keys.json").exists()  # the table, not a file


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(2, profile="fast", require_key=UPSTREAM_KEY) as s:
        yield s


async def test_keys_mode_router_over_the_table(moto_table: MotoTable, sim: Simulator) -> None:
    # GIVEN a keys-mode router whose keys live in the table, as the Lambda deployment has it
    raw = sim_config(sim)
    for upstream in raw["upstreams"]:
        upstream["api_key_env"] = "UPSTREAM_KEY"
    raw["auth"] = {"mode": "keys"}
    raw["health"] = {"store": "dynamodb", "table": moto_table.name}
    config = build_config(raw)
    clock = FakeClock()
    calls = CallCounter()
    dynamodb = moto_table.client()
    dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: calls(model.name))
    auth, upstream_auth = build_auth(config, {"UPSTREAM_KEY": UPSTREAM_KEY},
                                     store_client=dynamodb, clock=clock)
    key_store = store(moto_table)  # the CLI's side
    key, limited = generate_key(), generate_key()
    key_store.create(KeyRecord("alice", hash_key(key), 1.0))
    key_store.create(KeyRecord("bob", hash_key(limited), 2.0, ("deepseek-v3.2",)))
    deps = build_deps(config, clock=clock, auth=auth, upstream_auth=upstream_auth)
    transport = httpx.ASGITransport(app=create_app(deps))
    first = sim.ids[0]
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
            async def chat(token: str, model: str = "gpt-4.1") -> httpx.Response:
                return await client.post("/v1/chat/completions", json={**CHAT, "model": model},
                                         headers={"authorization": f"Bearer {token}"})

            # WHEN a valid key calls, twice
            assert (await chat(key)).status_code == 200
            assert (await chat(key)).status_code == 200
            # THEN the upstream got the upstream key, and the table was read once (cache)
            seen = sim.requests(first)
            assert [r["headers"]["Authorization"] for r in seen] == [f"Bearer {UPSTREAM_KEY}"] * 2
            assert dict(calls) == {"GetItem": 1}
            # a model-limited key gets 403 for other models, with no upstream call
            forbidden = await chat(limited, "gpt-4.1")
            assert forbidden.status_code == 403
            assert forbidden.json()["error"]["code"] == "model_not_allowed"
            # an unknown key: 401, no upstream call
            unknown = await chat(generate_key())
            assert unknown.status_code == 401
            assert unknown.json()["error"]["code"] == "invalid_api_key"
            # a revoked key: 401 once the cache entry expires
            key_store.revoke("alice", at=3.0)
            clock.advance(61)
            revoked = await chat(key)
            assert revoked.json() == unknown.json()
            assert len(sim.requests(first)) == 2
            assert set(calls) == {"GetItem"}  # never a Scan or a Query
    finally:
        await deps.service.client.close()
        key_store.close()
