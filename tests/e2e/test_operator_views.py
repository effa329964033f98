"""The operator views of a real `edge-router serve` in front of a real `edge-router simulate`,
with one upstream's circuit open and one rate-limited: `edge-router status --url` (a process)
and `GET /dashboard` rendered by a real headless Chromium."""

from __future__ import annotations

import copy
import json
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support import chromium

from .conftest import E2E_ROUTING
from .procs import EDGE_ROUTER, RouterProcess, SimProcess, http, start_router

CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}


def chat(router: RouterProcess) -> str:
    request = urllib.request.Request(
        router.url + "/v1/chat/completions", data=json.dumps(CHAT).encode(), method="POST",
        headers={"content-type": "application/json", "authorization": "Bearer sk-test"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["x-edge-upstream"])


@pytest.fixture(scope="module")
def faulted(sim: SimProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterProcess]:
    """A router whose home upstream (ap-northeast) is open and ap-southeast rate-limited for
    the one client key (passthrough: a 429 marks (upstream, credential), SPEC §5)."""
    sim.reset()
    config = copy.deepcopy(sim.config)
    config["routing"] = E2E_ROUTING
    config["breaker"] = {"consecutive_failures": 3, "cooldown_s": 300}
    router = start_router(tmp_path_factory.mktemp("views"), config)
    try:
        sim.set_fault("ap-northeast", "reset")
        sim.set_fault("ap-southeast", "status:429,retry_after=120,count=1")
        assert [chat(router) for _ in range(3)] == ["us-west"] * 3
        _, status = http("GET", router.url + "/status")
        states = {u["id"]: u["state"] for u in status["upstreams"]}
        assert states == {"ap-northeast": "open", "ap-southeast": "closed", "us-west": "closed"}
        scoped = {u["id"]: u["rate_limited_credentials"] for u in status["upstreams"]}
        assert scoped == {"ap-northeast": 0, "ap-southeast": 1, "us-west": 0}
        yield router
    finally:
        router.stop()
        sim.reset()


def test_status_url_process(faulted: RouterProcess) -> None:
    result = subprocess.run(
        [EDGE_ROUTER, "status", "--url", faulted.url], capture_output=True, text=True,
        timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"health matrix from {faulted.url}/status (router in local) at ")
    table = {line.split()[0]: line.split() for line in lines[3:7]}
    assert table["upstream"] == ["upstream", "local", "(live)"]
    assert table["ap-northeast"][:2] == ["ap-northeast", "OPEN"]
    # a mark for one client's key is counted in /status, never shown as the upstream's
    assert table["ap-southeast"][1] == "closed" and "RL" not in table["ap-southeast"]
    assert table["us-west"][1] == "closed" and table["us-west"][2].endswith("ms")
    alerts = "\n".join(lines[8:])
    assert "ap-northeast: OPEN in local (until " in alerts
    assert "ap-southeast" not in alerts


def test_dashboard_in_headless_chromium(faulted: RouterProcess) -> None:
    # GIVEN the router above; WHEN a real browser loads /dashboard and its script runs
    page = chromium.parse(chromium.dump_dom(faulted.url + "/dashboard"))
    # THEN every upstream has a row with its state in this router's column
    assert page.cells == {
        ("ap-northeast", "local"): "open",
        ("ap-southeast", "local"): "closed",
        ("us-west", "local"): "closed",
    }
    assert "open" in page.cell_text[("ap-northeast", "local")]
    assert "until" in page.cell_text[("ap-northeast", "local")]
    assert "RL" not in page.cell_text[("ap-southeast", "local")].split()
    assert " ms" in page.cell_text[("us-west", "local")]
    assert "ap-northeast: OPEN in local (until " in page.by_id["alerts"]
    assert page.by_id["region"] == "local"
    assert page.by_id["updated"].endswith("UTC")  # a successful fetch happened
    assert "show" not in page.classes["banner"]
