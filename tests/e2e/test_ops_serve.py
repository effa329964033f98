"""A real `edge-router serve` as an operator runs it: `/metrics` read by Prometheus' own parser
after traffic from the `openai` SDK, the operator token, `--access-log` on its own, and a busy
port that fails in one line."""

from __future__ import annotations

import copy
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families

from .conftest import E2E_ROUTING
from .procs import EDGE_ROUTER, SimProcess, free_ports, start_router

TOKEN = "ops-e2e-token-0123456789"
MESSAGES = [{"role": "user", "content": "Say hello"}]


def requests_by_upstream(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "edge_router_requests_total":
                upstream = sample.labels["upstream"]
                out[upstream] = out.get(upstream, 0) + sample.value
    return out


def test_metrics_behind_the_operator_token_count_sdk_traffic(
    sim: SimProcess, tmp_path: Path
) -> None:
    sim.reset()
    config = copy.deepcopy(sim.config)
    config["routing"] = E2E_ROUTING
    config["ops"] = {"token_env": "EDGE_ROUTER_TEST_OPS_TOKEN"}
    router = start_router(tmp_path, config, env={"EDGE_ROUTER_TEST_OPS_TOKEN": TOKEN})
    try:
        client = openai.OpenAI(base_url=router.url + "/v1", api_key="sk-test", max_retries=0)
        for _ in range(3):
            client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)  # type: ignore[arg-type]
        sim.set_fault("ap-northeast", "status:503,count=1")
        client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)  # type: ignore[arg-type]
        refused = httpx.get(router.url + "/metrics", timeout=10)
        client_key = httpx.get(router.url + "/status", headers={"authorization": "Bearer sk-test"})
        scraped = httpx.get(router.url + "/metrics", timeout=10,
                            headers={"authorization": f"Bearer {TOKEN}"})
    finally:
        router.stop()
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "missing_api_key"
    assert client_key.status_code == 401  # a client's bearer does not open /status
    assert scraped.status_code == 200
    assert requests_by_upstream(scraped.text) == {"ap-northeast": 3, "ap-southeast": 1}
    assert TOKEN not in scraped.text


def test_access_log_needs_no_log_level(sim: SimProcess, tmp_path: Path) -> None:
    config = {**copy.deepcopy(sim.config), "routing": E2E_ROUTING}
    router = start_router(tmp_path, config, args=["--access-log"])
    try:
        assert httpx.get(router.url + "/health", timeout=10).status_code == 200
        time.sleep(0.3)
    finally:
        router.stop()
    assert router.proc.stdout is not None
    output = router.proc.stdout.read()
    assert '"GET /health HTTP/1.1" 200' in output, output


def test_a_busy_port_is_one_clear_line_and_no_serving_line(
    sim: SimProcess, tmp_path: Path
) -> None:
    port = free_ports(1)[0]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = subprocess.run(
            [EDGE_ROUTER, "serve", "--port", str(port)], capture_output=True, text=True,
            timeout=60, env={**os.environ},
        )  # fmt: skip
    assert done.returncode == 1
    assert "serving on" not in done.stdout
    assert done.stderr == (
        f"edge-router serve: cannot listen on 127.0.0.1:{port}: the port is already in use "
        "(another server is listening on it)\n"
    )
