"""The ops endpoints through the router Lambda, fed `events/*.json` as API Gateway sends them:
private (the template's default) they are 404 like any unknown path while `/health` answers;
with an operator token they need it, and a client's bearer is not enough (SPEC §15)."""

from __future__ import annotations

from typing import Any

import pytest

from edge_router.config import env
from tests.integration.lambda_harness import Lambdas, SimThread, event, invoke

pytestmark = pytest.mark.integration

REGION = "us-east-1"
TOKEN = "lambda-ops-token-0123456789"
OPS_PATHS = ("/status", "/dashboard", "/metrics")


def at(path: str) -> dict[str, Any]:
    """`events/status.json` for another path (rawPath and requestContext.http.path agree)."""
    base = event("status")
    context = {**base["requestContext"], "http": {**base["requestContext"]["http"], "path": path}}
    return {"rawPath": path, "requestContext": context}


def test_private_ops_endpoints_are_404_through_api_gateway(
    lambdas: Lambdas, sim: SimThread
) -> None:
    handler = lambdas.router(lambdas.environ(REGION, env={env.OPS_ENDPOINTS: "private"}))
    unknown = invoke(handler, "status", **at("/no-such-path"))
    for path in OPS_PATHS:
        answer = invoke(handler, "status", **at(path))
        assert answer.status == 404, path
        assert answer.json() == {"error": {
            "message": f"Unknown path: {path}", "type": "invalid_request_error", "param": None,
            "code": "not_found"}}  # fmt: skip
        assert answer.headers["content-type"] == unknown.headers["content-type"]
    health = invoke(handler, "health")
    assert health.status == 200 and health.json()["status"] == "ok"
    assert invoke(handler, "chat").status == 200  # the API itself is untouched


def test_public_ops_endpoints_answer_and_an_ops_token_guards_them(
    lambdas: Lambdas, sim: SimThread
) -> None:
    public = lambdas.router(lambdas.environ(REGION, env={env.OPS_ENDPOINTS: "public"}))
    assert invoke(public, "status").status == 200
    assert invoke(public, "status", **at("/dashboard")).status == 200
    assert invoke(public, "status", **at("/metrics")).status == 404  # EMF here, not Prometheus
    guarded = lambdas.router(lambdas.environ(
        REGION, ops={"token_env": "EDGE_ROUTER_TEST_OPS_TOKEN"},
        env={env.OPS_ENDPOINTS: "public", "EDGE_ROUTER_TEST_OPS_TOKEN": TOKEN}))  # fmt: skip
    status = event("status")
    assert invoke(guarded, "status").status == 401
    client = {**status["headers"], "authorization": "Bearer sk-test"}
    assert invoke(guarded, "status", headers=client).status == 401
    operator = {**status["headers"], "authorization": f"Bearer {TOKEN}"}
    answer = invoke(guarded, "status", headers=operator)
    assert answer.status == 200 and answer.json()["region"] == REGION
    assert TOKEN.encode() not in answer.body
