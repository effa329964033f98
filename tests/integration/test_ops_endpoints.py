"""The operator endpoints (`/status`, `/dashboard`, `/metrics`; SPEC §15): `ops.token_env`
locks them behind one operator token (a router key is not enough), and `ops.endpoints: private`
hides them (404 like any unknown path) while `/health` stays."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from edge_router.api.app import create_app
from edge_router.api.ops_auth import ops_token
from edge_router.build import build_deps
from edge_router.config import ConfigError, build_config
from edge_router.prometheus_metrics import PrometheusMetrics
from tests.support.one_key_auth import OneKeyAuth

TOKEN = "ops-token-0123456789abcdef"
ROUTER_KEY = "sk-edge-client-key"
UPSTREAMS = [{"id": "solo", "base_url": "http://127.0.0.1:9/v1"}]
OPS_PATHS = ("/status", "/metrics")


@asynccontextmanager
async def client_for(
    ops: Mapping[str, Any] | None = None, *, keys: bool = False,
    environ: Mapping[str, str] | None = None,
) -> AsyncIterator[httpx.AsyncClient]:  # fmt: skip
    raw: dict[str, Any] = {"upstreams": UPSTREAMS}
    if ops is not None:
        raw["ops"] = dict(ops)
    config = build_config(raw, environ=environ)
    deps = build_deps(
        config, metrics=PrometheusMetrics(config), auth=OneKeyAuth(ROUTER_KEY) if keys else None,
        ops_token=ops_token(config, {"OPS_TOKEN": TOKEN}),
    )  # fmt: skip
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.mark.parametrize("keys", [False, True])
async def test_with_a_token_only_the_token_opens_status_and_metrics(keys: bool) -> None:
    async with client_for({"token_env": "OPS_TOKEN"}, keys=keys) as client:
        for path in OPS_PATHS:
            none = await client.get(path)
            assert none.status_code == 401, path
            assert none.json()["error"]["code"] == "missing_api_key"
            assert "operator token" in none.json()["error"]["message"]
            # a router key (keys mode) or any client's bearer (passthrough) is not enough
            for wrong in (ROUTER_KEY, TOKEN + "x", TOKEN[:-1]):
                response = await client.get(path, headers=bearer(wrong))
                assert response.status_code == 401, (path, wrong)
                assert response.json()["error"]["code"] == "invalid_api_key"
                assert wrong not in response.text and TOKEN not in response.text
            right = await client.get(path, headers=bearer(TOKEN))
            assert right.status_code == 200, path
        # the page holds no data: a browser loads it, and its key field takes the token
        assert (await client.get("/dashboard")).status_code == 200
        assert (await client.get("/health")).status_code in (200, 503)


async def test_without_a_token_passthrough_is_open_and_keys_mode_wants_a_router_key() -> None:
    async with client_for() as client:
        for path in OPS_PATHS:
            assert (await client.get(path)).status_code == 200, path
    async with client_for(keys=True) as client:
        for path in OPS_PATHS:
            assert (await client.get(path)).status_code == 401, path
            assert (await client.get(path, headers=bearer(ROUTER_KEY))).status_code == 200


@pytest.mark.parametrize(
    "environ", [None, {"EDGE_ROUTER_OPS_ENDPOINTS": "private"}], ids=["config", "environment"]
)
async def test_private_ops_endpoints_are_404_like_unknown_paths(
    environ: Mapping[str, str] | None,
) -> None:
    ops = {"endpoints": "private", "token_env": "OPS_TOKEN"} if environ is None else {}
    async with client_for(ops, environ=environ) as client:
        unknown = await client.get("/no-such-path")
        for path in (*OPS_PATHS, "/dashboard"):
            response = await client.get(path, headers=bearer(TOKEN))  # even with the token
            assert response.status_code == 404, path
            assert response.json() == {"error": {
                "message": f"Unknown path: {path}", "type": "invalid_request_error",
                "param": None, "code": "not_found"}}  # fmt: skip
            assert response.headers["content-type"] == unknown.headers["content-type"]
        assert (await client.get("/health")).status_code in (200, 503)


def test_an_unset_or_short_token_variable_fails_the_start_naming_it() -> None:
    config = build_config({"upstreams": UPSTREAMS, "ops": {"token_env": "OPS_TOKEN"}})
    with pytest.raises(ConfigError) as unset:
        ops_token(config, {})
    assert str(unset.value) == "OPS_TOKEN (environment): ops.token_env names it, but it is not set"
    with pytest.raises(ConfigError) as short:
        ops_token(config, {"OPS_TOKEN": "short"})
    assert "shorter than 16 characters" in str(short.value) and "short" not in str(
        short.value).replace("shorter", "")
    assert ops_token(config, {"OPS_TOKEN": f"  {TOKEN}\n"}) == TOKEN


def test_a_bad_ops_endpoints_value_is_blamed_on_its_variable() -> None:
    with pytest.raises(ConfigError) as info:
        build_config({}, environ={"EDGE_ROUTER_OPS_ENDPOINTS": "secret"})
    assert str(info.value) == (
        "EDGE_ROUTER_OPS_ENDPOINTS (environment): ops.endpoints: Input should be 'public' or "
        "'private'"
    )
