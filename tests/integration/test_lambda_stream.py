"""`ResponseMode: stream` (SPEC §11) as far as it runs here: `functions/router/run.sh` started the
way the Lambda Web Adapter starts it (the template's environment, `PORT`, `LAMBDA_TASK_ROOT`,
`python` on `PATH`), driven over HTTP with the headers the adapter adds, its health store a
DynamoDB table on moto. The adapter itself and API Gateway cannot run here (no AWS, no Docker).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from edge_router.health import items
from tests.e2e.procs import free_ports
from tests.integration.lambda_harness import write_config
from tests.support.moto_dynamodb import REGION, MotoTable
from tests.support.run_sh import RunSh, lambda_environ, template_environment
from tests.support.tcp_proxy import CountingProxy
from tests.support.token_upstream import TokenUpstream

pytestmark = pytest.mark.integration

API_REQUEST_ID = "apigw-7f3c2a"
LAMBDA_REQUEST_ID = "0b4f6a9e-lambda"
ADAPTER_HEADERS = {
    "x-amzn-request-context": json.dumps({"requestId": API_REQUEST_ID, "stage": "prod"}),
    "x-amzn-lambda-context": json.dumps({"request_id": LAMBDA_REQUEST_ID}),
}
GAPS = [0.0, 0.3, 0.3, 0.3, 0.3]  # seconds of silence before each token


def router_config(dead_port: int, token_port: int) -> dict[str, Any]:
    """`dead` first (nothing listens there), then `tokens`; one failure opens a circuit."""
    return {
        "upstreams": [
            {"id": "dead", "base_url": f"http://127.0.0.1:{dead_port}/v1", "fallbacks": ["tokens"]},
            {"id": "tokens", "base_url": f"http://127.0.0.1:{token_port}/v1"},
        ],
        "home": {REGION: "dead"},
        "routing": {"connect_timeout_s": 0.5, "first_byte_timeout_s": 5.0, "deadline_s": 10.0,
                    "backoff_base_s": 0.01, "backoff_cap_s": 0.05},
        "breaker": {"consecutive_failures": 1},
        "health": {"sync_interval_s": 3600},
    }


@pytest.fixture
def ports() -> list[int]:
    return free_ports(3)  # router, the dead upstream, the token upstream


def start_run_sh(
    tmp_path: Path, table: MotoTable, ports: list[int], *, endpoint: str, **sections: Any
) -> RunSh:
    """run.sh with the template's environment; its health store is `table`, reached at
    `endpoint` (moto, or a proxy in front of it)."""
    router_port, dead_port, token_port = ports
    raw = router_config(dead_port, token_port)
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    config = write_config(tmp_path / "edge-router.yaml", raw)
    template_env = template_environment({
        "ConfigPath": str(config), "HealthTableName": table.name,
        "HealthTableRegion": table.region, "AuthMode": "passthrough",
    })  # fmt: skip
    return RunSh(lambda_environ(template_env, port=router_port, region=REGION,
                                extra={"AWS_ENDPOINT_URL_DYNAMODB": endpoint}))


@pytest.fixture
def run_sh(tmp_path: Path, moto_table: MotoTable, ports: list[int]) -> Iterator[RunSh]:
    process = start_run_sh(tmp_path, moto_table, ports, endpoint=moto_table.endpoint_url)
    try:
        yield process
    finally:
        process.stop()


class SlowWrites(CountingProxy):
    """In front of moto: every `UpdateItem` reaches it `delay_s` late (a slow table)."""

    delay_s = 0.5

    async def relay(self, data: bytes, *, to_upstream: bool) -> bool:
        if to_upstream and b"DynamoDB_20120810.UpdateItem" in data:
            await asyncio.sleep(self.delay_s)
        return True


def test_the_template_runs_run_sh_under_the_adapter_with_ready_as_readiness() -> None:
    environment = template_environment({
        "ConfigPath": "/opt/python/edge-router.yaml", "HealthTableName": "t",
        "HealthTableRegion": "", "AuthMode": "passthrough", "UpstreamSecretArn": "",
    })  # fmt: skip
    assert environment["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert environment["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert environment["AWS_LWA_READINESS_CHECK_PATH"] == "/ready"
    assert environment.get("AWS_LWA_PORT", environment["PORT"]) == environment["PORT"]
    run_sh = Path(__file__).resolve().parents[2] / "functions" / "router" / "run.sh"
    assert run_sh.stat().st_mode & 0o111, "run.sh must be executable"
    assert b"\r" not in run_sh.read_bytes(), "run.sh must have LF line ends"


def test_run_sh_streams_token_by_token_with_lambda_properties(
    run_sh: RunSh, moto_table: MotoTable, ports: list[int], tmp_path: Path
) -> None:
    # GIVEN run.sh started with every upstream dead (the token upstream is not listening yet)
    ready_after = run_sh.wait_ready(timeout=30)
    assert ready_after < 30  # "within seconds": the bound only guards a loaded CI machine
    ready = httpx.get(f"{run_sh.url}/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    # the template's OpsEndpoints default (private) holds here too
    assert httpx.get(f"{run_sh.url}/status").status_code == 404
    # config is read once per container: a broken file now changes nothing
    (tmp_path / "edge-router.yaml").write_text("upstreams: [broken", encoding="utf-8")

    with TokenUpstream(GAPS, port=ports[2]):
        client = openai.OpenAI(base_url=f"{run_sh.url}/v1", api_key="sk-test", max_retries=0)
        # WHEN the adapter forwards a streamed chat completion
        arrivals: list[tuple[float, str]] = []
        started = time.monotonic()
        stream = client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "hi"}], stream=True,
            extra_headers=ADAPTER_HEADERS,
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append((time.monotonic() - started, chunk.choices[0].delta.content))
        # THEN the tokens arrived one by one, in order, as the upstream wrote them
        assert [text for _, text in arrivals] == [f"tok{i} " for i in range(len(GAPS))]
        times = [t for t, _ in arrivals]
        assert times[-1] - times[0] >= 0.8 * sum(GAPS[1:])  # not in one piece at the end
        assert sum(1 for a, b in itertools.pairwise(times) if b - a >= 0.15) >= 3

        # ... the circuit opened by the dead upstream is in the table by the last byte
        item = moto_table.client().get_item(
            TableName=moto_table.name,
            Key={"pk": {"S": f"{items.UPSTREAM_PREFIX}dead"}, "sk": {"S": f"observer#{REGION}"}},
        ).get("Item")
        assert item is not None and item["state"] == {"S": "open"}

        # a second request, with no adapter headers
        client.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "hi"}])

    deadline = time.monotonic() + 10
    while len(run_sh.emf_lines()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    emf = run_sh.emf_lines()
    # one EMF line per request, plus one for the CircuitOpened event
    requests = [line for line in emf if "Requests" in line]
    assert [r["Upstream"] for r in requests] == ["tokens", "tokens"]
    assert [r["Failovers"] for r in requests] == [1, 0]
    assert next(line for line in emf if "CircuitOpened" in line)["Upstream"] == "dead"
    assert len(emf) == 3, run_sh.output()
    # the Powertools log line of the circuit opening carries the API Gateway request id
    opened = [line for line in run_sh.json_lines() if "circuit opened" in line.get("message", "")]
    assert len(opened) == 1, run_sh.output()
    assert opened[0]["correlation_id"] == API_REQUEST_ID
    assert opened[0]["function_request_id"] == LAMBDA_REQUEST_ID
    assert opened[0]["service"] == "edge-router"



def test_a_table_write_a_request_began_is_done_before_its_last_byte(
    tmp_path: Path, moto_table: MotoTable, ports: list[int]
) -> None:
    # GIVEN a table whose writes take half a second (the store may wait up to 2 s here), and a
    # request that opens the dead upstream's circuit, then is answered at once by `tokens`
    with TokenUpstream([0.0], port=ports[2]) as upstream:
        proxy = upstream.call(SlowWrites("127.0.0.1", int(moto_table.endpoint_url.rsplit(":", 1)[1])).start())
        process = start_run_sh(tmp_path, moto_table, ports, endpoint=f"http://127.0.0.1:{proxy.port}",
                               health={"timeout_ms": 2000})
        try:
            process.wait_ready(timeout=30)
            table = moto_table.client()
            key = {"pk": {"S": f"{items.UPSTREAM_PREFIX}dead"}, "sk": {"S": f"observer#{REGION}"}}
            client = openai.OpenAI(base_url=f"{process.url}/v1", api_key="sk-test", max_retries=0)
            # WHEN the answer's last byte has arrived
            started = time.monotonic()
            answer = client.chat.completions.create(
                model="gpt-4.1", messages=[{"role": "user", "content": "hi"}],
                extra_headers=ADAPTER_HEADERS,
            )
            took = time.monotonic() - started
            item = table.get_item(TableName=moto_table.name, Key=key).get("Item")
        finally:
            process.stop()
            upstream.call(proxy.close())
    # THEN the circuit's write is already in the table (the response waited for it)
    assert answer.choices[0].message.content == "tok0"
    assert item is not None and item["state"] == {"S": "open"}, process.output()
    assert took >= SlowWrites.delay_s
