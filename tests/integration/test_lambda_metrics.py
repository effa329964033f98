"""What the router Lambda writes to stdout: EMF metrics (SPEC §8) and Powertools JSON logs with
the API Gateway request id as correlation id; never a key."""

from __future__ import annotations

import json

import pytest

from edge_router import observability as obs
from edge_router.config.defaults import DEFAULT_PRICING
from edge_router.runtime.lambda_buffered import build_router_handler
from tests.integration.lambda_harness import HOME, Lambdas, SimThread, emf_documents, event, invoke

pytestmark = pytest.mark.integration

REGION = "ap-southeast-1"
DIMENSION_SETS = {("Region",), ("Region", "Upstream"), ("Region", "Model"),
                  ("Region", "ErrorClass")}
REQUEST_ID = event("chat")["requestContext"]["requestId"]


def test_emf_lines_and_logs_of_a_run_of_invocations(
    sim: SimThread, lambdas: Lambdas, capsys: pytest.CaptureFixture[str],
) -> None:
    handler = build_router_handler(lambdas.environ(REGION))
    try:
        # GIVEN a run of requests: plain, streamed, bad JSON, a 429, a dead home upstream
        plan = ["chat", "chat_stream", "bad_json", "models", "health", "status"]
        for name in plan:
            invoke(handler, name)
        sim.set_fault(HOME, "refuse")
        for _ in range(3):  # three connect failures in a row open the circuit
            invoke(handler, "chat")
        sim.set_fault("ap-southeast", "status:429,count=1")  # the first fallback
        invoke(handler, "chat")
    finally:
        handler.close()
    out = capsys.readouterr().out

    # THEN every line is JSON; the EMF ones follow SPEC §8
    lines = [json.loads(line) for line in out.splitlines()]
    docs = emf_documents(out)
    assert docs and len(docs) < len(lines)  # the rest are log lines
    names: set[str] = set()
    for doc in docs:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "EdgeRouter"
            sets = {tuple(d) for d in directive["Dimensions"]}
            assert sets <= DIMENSION_SETS
            for dims in sets:
                assert all(isinstance(doc[d], str) for d in dims)
            names.update(m["Name"] for m in directive["Metrics"])
        assert doc["Region"] == REGION
        assert "service" not in {k.lower() for k in doc}
        assert doc.get("Model", "other") in {*DEFAULT_PRICING, "other"}
        assert doc.get("ErrorClass", "internal") in obs.ERROR_CLASSES
    assert names >= {
        obs.REQUESTS, obs.LATENCY, obs.UPSTREAM_LATENCY, obs.OVERHEAD, obs.TIME_TO_FIRST_BYTE,
        obs.ATTEMPTS, obs.FAILOVERS, obs.ERRORS, obs.PROMPT_TOKENS, obs.COMPLETION_TOKENS,
        obs.COST_USD, obs.CIRCUIT_OPENED, obs.RATE_LIMITED,
    }
    # one line per /v1 request (health and status emit none), plus one per upstream with events
    request_docs = [d for d in docs if "Requests" in d]
    assert len(request_docs) == 4 + 1 + 3
    event_docs = [d for d in docs if "Requests" not in d]
    assert {(d["Upstream"], m) for d in event_docs for m in ("CircuitOpened", "RateLimited")
            if m in d} == {(HOME, "CircuitOpened"), ("ap-southeast", "RateLimited")}
    assert {d.get("ErrorClass") for d in request_docs} == {None, "client_error"}
    assert sum(d["Failovers"] for d in request_docs if d.get("Model") == "gpt-4.1") == 4

    # and the logs are Powertools JSON with the API Gateway request id
    logs = [line for line in lines if "_aws" not in line]
    opened = [line for line in logs if "circuit opened" in line.get("message", "")]
    assert len(opened) == 1
    assert opened[0]["correlation_id"] == REQUEST_ID
    assert opened[0]["service"] == "edge-router" and opened[0]["level"] == "WARNING"
    assert opened[0]["function_request_id"]

    # and no credential appears anywhere
    assert "sk-test" not in out and "Bearer" not in out
