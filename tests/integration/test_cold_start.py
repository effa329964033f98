"""Cold start (SPEC §14): what a fresh router container imports and builds before its first
request, and that what was deferred still works, built once, when a request needs it.

Timing is `make bench`'s job (bench/cold_start.py); these tests check the structure that the
figure depends on, so it cannot silently regress: no FastAPI and no boto3 at import.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.integration.lambda_harness import Lambdas, event, invoke
from tests.support.cfn import REPO

pytestmark = pytest.mark.integration

_PROBE = """
import json, sys
import functions.router.handler as h
print(json.dumps({
    "fastapi": "fastapi" in sys.modules,
    "boto3": "boto3" in sys.modules,
    "s3transfer": "s3transfer" in sys.modules,
    "aiohttp": "aiohttp" in sys.modules,
    "routes_built": h.handler.routes.built,
}))
"""


def fresh_import(extra_env: dict[str, str]) -> dict[str, Any]:
    env = {
        "PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x", "PYTHONPATH": f"{REPO / 'shared'}:{REPO}",
        "EDGE_ROUTER_CONFIG": str(REPO / "config" / "edge-router.yaml"),
        "POWERTOOLS_SERVICE_NAME": "edge-router", **extra_env,
    }  # fmt: skip
    result = subprocess.run([sys.executable, "-c", _PROBE], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def test_a_cold_router_imports_neither_fastapi_nor_boto3() -> None:
    """The proxy fast path and the DynamoDB client (botocore) are all a first request needs."""
    loaded = fresh_import({"EDGE_ROUTER_HEALTH_STORE": "dynamodb",
                           "EDGE_ROUTER_HEALTH_TABLE": "t"})  # fmt: skip
    assert loaded == {"fastapi": False, "boto3": False, "s3transfer": False, "aiohttp": True,
                      "routes_built": False}  # fmt: skip


def test_the_first_proxy_request_needs_no_routes_and_the_first_other_builds_them_once(
    lambdas: Lambdas,
) -> None:
    handler = lambdas.router(lambdas.environ("us-east-1"))
    routes = handler.routes
    assert invoke(handler, "chat").status == 200
    assert not routes.built
    # WHEN a request the fast path does not serve arrives, the routes are built for it
    models = invoke(handler, "models")
    assert models.status == 200 and models.json()["object"] == "list"
    built = routes.warm()
    # THEN later requests reuse that one app, errors keep OpenAI's shape and the edge headers
    context = event("models")["requestContext"]
    context["http"]["path"] = "/v2/nothing"  # Mangum reads this one; keep rawPath equal
    missing = invoke(handler, "models", rawPath="/v2/nothing", requestContext=context)
    assert missing.status == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert missing.headers["x-edge-region"] == "us-east-1"
    assert routes.warm() is built


def test_a_bug_below_the_lazy_routes_answers_500_in_openai_shape(
    lambdas: Lambdas, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = lambdas.router(lambdas.environ("us-east-1"))

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(handler.deps.catalog, "list_models", broken)
    answer = invoke(handler, "models")
    assert answer.status == 500
    assert answer.json()["error"]["type"] == "server_error", answer.body
    assert answer.headers["content-type"] == "application/json"


def test_cors_wraps_the_lazy_app_and_its_fast_path(lambdas: Lambdas) -> None:
    origin = "https://app.example"
    handler = lambdas.router(lambdas.environ("us-east-1", cors={"allow_origins": [origin]}))
    chat = event("chat")
    chat["headers"] = {**chat["headers"], "origin": origin}
    answer = invoke(handler, "chat", headers=chat["headers"])
    assert answer.status == 200
    assert answer.headers["access-control-allow-origin"] == origin
    assert "x-edge-upstream" in answer.headers["access-control-expose-headers"]
    assert not handler.routes.built  # the fast path answered: no FastAPI for it
