"""The router Lambda handler fed `events/*.json`, in front of simulated upstreams over real sockets:
answers and `x-edge-*` headers, failover (the same as the app served locally), buffered SSE,
connection reuse across warm invocations, and the handler module's own import."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from mangum import Mangum

from edge_router.api.app import create_app
from edge_router.build import build_deps
from edge_router.config import build_config
from edge_router.runtime.lambda_buffered import RouterHandler
from tests.integration.lambda_harness import (
    HOME,
    Answer,
    FakeContext,
    Lambdas,
    SimThread,
    cold_start,
    event,
    invoke,
    router_environ,
    write_config,
)

pytestmark = pytest.mark.integration

REGION = "us-east-1"
Factory = Callable[..., RouterHandler]


@pytest.fixture
def make_handler(lambdas: Lambdas) -> Factory:
    """Routers in REGION; keywords as `Lambdas.environ` takes them."""

    def make(**config: Any) -> RouterHandler:
        return lambdas.router(lambdas.environ(REGION, **config))

    return make


def edge_headers(answer: Answer) -> dict[str, str]:
    return {k: v for k, v in answer.headers.items() if k.startswith("x-edge-")}


def test_chat_event_answers_json_with_the_edge_headers(make_handler: Factory,
                                                       sim: SimThread) -> None:
    answer = invoke(make_handler(), "chat")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["choices"][0]["message"]["role"] == "assistant"
    headers = edge_headers(answer)
    assert headers["x-edge-region"] == REGION
    assert headers["x-edge-upstream"] == HOME
    assert headers["x-edge-attempts"] == "1"
    assert 0 <= float(headers["x-edge-overhead-ms"]) < 50
    assert float(headers["x-edge-cost-usd"]) > 0
    assert answer.headers["x-request-id"].startswith("req_")
    assert answer.headers["x-upstream-request-id"] == f"sim-{HOME}-000001"
    # the body went upstream byte for byte, with the client's credential
    [seen] = sim.sim.requests(HOME)
    assert seen["body"] == event("chat")["body"]
    assert seen["headers"]["Authorization"] == "Bearer sk-test"


def test_base64_event_body_is_decoded_before_it_goes_upstream(make_handler: Factory,
                                                              sim: SimThread) -> None:
    answer = invoke(make_handler(), "chat_base64")
    assert answer.status == 200 and answer.headers["x-edge-upstream"] == HOME
    [seen] = sim.sim.requests(HOME)
    assert base64.b64decode(seen["body_base64"]) == base64.b64decode(event("chat_base64")["body"])


def test_stream_event_is_buffered_into_one_sse_response_ending_in_done(
    make_handler: Factory,
) -> None:
    answer = invoke(make_handler(), "chat_stream")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert edge_headers(answer)["x-edge-upstream"] == HOME
    events = [e for e in answer.body.decode().split("\n\n") if e]
    assert len(events) >= 3 and all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    assert '"chat.completion.chunk"' in events[0]


def test_a_stream_still_running_at_the_deadline_ends_with_the_routers_error_event(
    make_handler: Factory, sim: SimThread,
) -> None:
    handler = make_handler(routing={"deadline_s": 1.0})
    sim.set_fault(HOME, "trickle:0.02")  # the whole stream takes far longer than the deadline
    started = time.perf_counter()
    answer = invoke(handler, "chat_stream")
    elapsed = time.perf_counter() - started
    assert answer.status == 200 and 0.9 < elapsed < 5.0
    body = answer.body.decode()
    assert "[DONE]" not in body
    assert body.endswith(
        'data: {"error":{"message":"The request deadline passed during the stream.",'
        '"type":"upstream_error","param":null,"code":"deadline_exceeded"}}\n\n'
    )


def test_models_health_and_status_events(make_handler: Factory) -> None:
    handler = make_handler()
    models = invoke(handler, "models")
    assert models.status == 200 and models.headers["x-edge-region"] == REGION
    ids = {m["id"] for m in models.json()["data"]}
    assert {"gpt-4.1", "claude-sonnet-4.5"} <= ids
    health = invoke(handler, "health")
    assert health.status == 200 and health.headers["x-edge-region"] == REGION
    assert health.json() == {"status": "ok", "region": REGION,
                             "usable_upstreams": ["ap-northeast", "ap-southeast", "us-west"]}
    status = invoke(handler, "status")
    assert status.status == 200 and status.json()["region"] == REGION
    assert [u["state"] for u in status.json()["upstreams"]] == ["closed"] * 3


def test_bad_json_event_gets_the_routers_400(make_handler: Factory, sim: SimThread) -> None:
    answer = invoke(make_handler(), "bad_json")
    assert answer.status == 400
    assert answer.json() == {"error": {
        "message": "The request body is not valid JSON.", "type": "invalid_request_error",
        "param": None, "code": "invalid_json"}}
    assert answer.headers["x-edge-region"] == REGION and answer.headers["x-edge-attempts"] == "0"
    assert "x-edge-upstream" not in answer.headers
    assert sim.requests(HOME) == 0


def _local(config: dict[str, Any], name: str) -> tuple[int, dict[str, str], bytes]:
    """The same request, to the same upstreams, through the app served locally (ASGI)."""

    async def call() -> tuple[int, dict[str, str], bytes]:
        deps = build_deps(build_config(config, region=REGION))
        transport = httpx.ASGITransport(app=create_app(deps))
        data = event(name)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
                r = await client.post("/v1/chat/completions", content=data["body"],
                                      headers=data["headers"])
                return r.status_code, dict(r.headers), r.content
        finally:
            await deps.service.client.close()

    return asyncio.run(call())


@pytest.mark.parametrize(("fault", "name"), [
    ("status:503", "chat"), ("refuse", "chat"), ("reset", "chat"), ("html", "chat"),
    ("status:503", "chat_stream"), ("cut:0", "chat_stream"),
])
def test_failover_under_lambda_is_the_same_as_locally(
    make_handler: Factory, sim: SimThread, tmp_path: Path, fault: str, name: str,
) -> None:
    # GIVEN the home upstream failing in one way
    sim.set_fault(HOME, fault)
    # WHEN the same request goes through the Lambda handler and through the local app
    answer = invoke(make_handler(), name)
    status, headers, body = _local(sim.config(home={REGION: HOME}), name)
    # THEN both fail over to the first fallback with two attempts
    assert answer.status == status == 200
    assert answer.headers["x-edge-upstream"] == headers["x-edge-upstream"] == "ap-southeast"
    assert answer.headers["x-edge-attempts"] == headers["x-edge-attempts"] == "2"
    if name == "chat_stream":
        assert answer.body.endswith(b"data: [DONE]\n\n") and body.endswith(b"data: [DONE]\n\n")
    else:
        assert answer.json()["object"] == "chat.completion"


def test_every_upstream_down_gives_the_same_502_as_locally(make_handler: Factory,
                                                          sim: SimThread) -> None:
    for upstream_id in sim.ids:
        sim.set_fault(upstream_id, "status:500")
    answer = invoke(make_handler(), "chat")
    status, headers, body = _local(sim.config(home={REGION: HOME}), "chat")
    assert answer.status == status == 502
    assert answer.headers["x-should-retry"] == headers["x-should-retry"] == "false"
    assert answer.json() == json.loads(body) == {"error": {
        "message": "All 3 upstream attempt(s) failed; last error: us-west: HTTP 500.",
        "type": "upstream_error", "param": None, "code": "all_upstreams_failed"}}
    assert answer.headers["x-edge-attempts"] == "3"


def test_warm_invocations_reuse_one_upstream_connection(make_handler: Factory,
                                                        sim: SimThread) -> None:
    handler = make_handler(proxied=(HOME,))
    for i in range(10):
        assert invoke(handler, "chat_stream" if i % 2 else "chat").status == 200
        # something else in the container runs (and discards) its own loop in between
        asyncio.run(asyncio.sleep(0))
    assert sim.requests(HOME) == 10
    assert sim.proxy(HOME).accepted == 1


def test_a_connection_the_upstream_closed_between_invocations_is_not_reused(
    make_handler: Factory, sim: SimThread,
) -> None:
    # GIVEN a warm container with a pooled keep-alive connection to HOME
    handler = make_handler(proxied=(HOME,))
    assert invoke(handler, "chat").headers["x-edge-attempts"] == "1"
    # WHEN HOME closes its idle connections while the container is frozen (no loop running)
    sim.set_fault(HOME, "refuse")
    sim.set_fault(HOME, "ok")
    deadline = time.monotonic() + 2
    while sim.proxy(HOME).active and time.monotonic() < deadline:
        time.sleep(0.005)  # the FIN is on its way to the router's socket
    assert sim.proxy(HOME).active == 0
    # THEN the next invocation opens a new connection instead of failing on the dead one
    answer = invoke(handler, "chat")
    assert (answer.headers["x-edge-upstream"], answer.headers["x-edge-attempts"]) == (HOME, "1")
    assert sim.proxy(HOME).accepted == 2


def test_the_connection_counter_sees_new_connections_when_the_loop_changes(
    make_handler: Factory, sim: SimThread,
) -> None:
    # The control for the test above: Mangum on a fresh loop per invocation (what happens when
    # nothing pins the loop) opens one connection per invocation, and the counter shows it.
    handler = make_handler(proxied=(HOME,))
    loops = []
    for _ in range(3):
        loop = asyncio.new_event_loop()
        loops.append(loop)
        asyncio.set_event_loop(loop)
        mangum = Mangum(handler.app, lifespan="off")
        response = mangum(event("chat"), FakeContext())  # type: ignore[arg-type]
        assert response["statusCode"] == 200
    assert sim.proxy(HOME).accepted == 3
    for loop in loops:
        loop.close()
    asyncio.set_event_loop(None)


def test_the_handler_module_builds_everything_from_the_environment_at_import(
    tmp_path: Path, sim: SimThread, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = write_config(tmp_path / "router.yaml", sim.config(home={"eu-central-1": "us-west"}))
    environ = router_environ(path, region="eu-central-1")
    with cold_start("functions.router.handler", environ, monkeypatch) as module:
        answer = invoke(module.handler, "chat")
        assert answer.status == 200
        assert edge_headers(answer)["x-edge-region"] == "eu-central-1"
        assert edge_headers(answer)["x-edge-upstream"] == "us-west"
        assert module.app is module.handler.app
