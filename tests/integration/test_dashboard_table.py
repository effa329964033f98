"""`edge-router dashboard --table T`: the real command serving the dashboard on localhost from a
moto_server health table, loaded by a real headless Chromium (SPEC §15)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edge_router.health.records import Counters, Observation, Probe, Transition
from tests.e2e.procs import EDGE_ROUTER, free_ports, stop
from tests.support import chromium, moto_dynamodb
from tests.support.moto_dynamodb import MotoTable

from .test_cli_status import CONFIG, FRANKFURT, SEOUL, VIRGINIA, write

moto_endpoint = moto_dynamodb.moto_endpoint  # fixtures, used by name
moto_table = moto_dynamodb.moto_table


@pytest.fixture
def dashboard(moto_table: MotoTable, tmp_path: Path) -> Iterator[str]:
    """`edge-router dashboard --table T --port P` as a real process; yields its URL."""
    config = tmp_path / "edge-router.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    port = free_ports(1)[0]
    env = {**os.environ, "AWS_ENDPOINT_URL_DYNAMODB": moto_table.endpoint_url}
    proc = subprocess.Popen(
        [EDGE_ROUTER, "dashboard", "--table", moto_table.name, "--config", str(config),
         "--region", moto_table.region, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        assert line.startswith(f"edge-router dashboard on http://127.0.0.1:{port}/dashboard — "
                               f"table {moto_table.name} ({moto_table.region})"), line
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def test_the_page_draws_the_table_with_banners_and_home_marks(
    moto_table: MotoTable, dashboard: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    chromium.require_chromium()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_table.endpoint_url)
    moto_dynamodb.patient_clients(monkeypatch)  # the test's own writes (not what is tested)
    now = time.time()
    # GIVEN Seoul's routers opened both upstreams (so Seoul's /health is 503), Virginia serves
    # well, and Frankfurt's checker reached us-east
    write(moto_table, SEOUL,
          Counters("ap-northeast", 40, 2, 31.0, now - 5),
          Transition("ap-northeast", "open", now + 120, now - 3, "HTTP 503 from upstream"),
          Transition("us-east", "open", now + 90, now - 2, "connection refused"))  # fmt: skip
    write(moto_table, VIRGINIA, Counters("us-east", 100, 0, 12.0, now - 4))
    write(moto_table, FRANKFURT, Probe("us-east", True, 88.0, now - 20))
    # WHEN a real browser loads the page the command serves
    page = chromium.parse(chromium.dump_dom(dashboard + "/dashboard"))
    # THEN every region is an observer column (no live router here), with each cell's state
    assert page.cells == {
        ("ap-northeast", SEOUL): "open", ("ap-northeast", VIRGINIA): "none",
        ("ap-northeast", FRANKFURT): "none",
        ("us-east", SEOUL): "open", ("us-east", VIRGINIA): "closed",
        ("us-east", FRANKFURT): "closed",
    }  # fmt: skip
    # an open cell shows no latency (its 31 ms EWMA is history); a closed one does
    assert "31 ms" not in page.cell_text[("ap-northeast", SEOUL)]
    assert "12 ms" in page.cell_text[("us-east", VIRGINIA)]
    assert "88 ms (probe)" in page.cell_text[("us-east", FRANKFURT)]
    # each region's home upstream is marked in its column
    assert page.homes == {("ap-northeast", SEOUL), ("us-east", VIRGINIA), ("us-east", FRANKFURT)}
    # the region whose /health would answer 503 gets the banner; the others do not
    assert page.classes["down"] == "show"
    assert page.by_id["down"] == (
        f"{SEOUL}: /health would answer 503: every upstream circuit is open there"
    )
    assert page.by_id["region"] == f"table {moto_table.name} ({moto_table.region})"
    assert "show" not in page.classes["banner"]


def test_status_is_the_table_in_the_routers_shape(moto_table: MotoTable, dashboard: str) -> None:
    body = httpx.get(dashboard + "/status", timeout=10).json()
    assert body["live"] is False and body["region"] is None
    assert body["regions"] == [SEOUL, VIRGINIA, FRANKFURT]  # `home` regions (+ --region)
    assert body["homes"] == {SEOUL: "ap-northeast", VIRGINIA: "us-east", FRANKFURT: "us-east"}
    assert [u["id"] for u in body["upstreams"]] == ["ap-northeast", "us-east"]
    assert all(u["observers"] == [] for u in body["upstreams"])  # an empty table


def test_a_busy_port_is_one_clear_line(moto_table: MotoTable, dashboard: str) -> None:
    port = dashboard.rsplit(":", 1)[1]
    done = subprocess.run(
        [EDGE_ROUTER, "dashboard", "--table", moto_table.name, "--region", "us-east-1",
         "--port", port],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"edge-router dashboard: cannot listen on 127.0.0.1:{port}: the port is already in use "
        "(another server is listening on it)\n"
    )


async def test_a_table_that_cannot_be_read_is_a_502_saying_why() -> None:
    from edge_router.api.table_dashboard import create_table_dashboard_app
    from edge_router.config import build_config
    from edge_router.health.store import HealthStoreError

    reads = 0

    async def read() -> list[Observation]:
        nonlocal reads
        reads += 1
        raise HealthStoreError("ResourceNotFoundException: no such table")

    app = create_table_dashboard_app(build_config({}), regions=["us-east-1"], read=read,
                                     source="table nope (us-east-1)")  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://dash") as client:  # fmt: skip
        first = await client.get("/status")
        second = await client.get("/status")
    assert first.status_code == 502
    assert first.json()["error"]["message"] == (
        "cannot read table nope (us-east-1): ResourceNotFoundException: no such table")
    assert second.status_code == 502 and reads == 2  # a failure is not cached
