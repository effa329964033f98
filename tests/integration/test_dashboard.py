"""`GET /dashboard`: what the route serves, and what a real headless Chromium draws from the
app's `/status` when other regions report on the upstreams, and when `/status` refuses it."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from edge_router.api import dashboard_routes
from edge_router.api.app import create_app
from edge_router.api.dashboard_routes import load_page
from edge_router.build import build_deps
from edge_router.config import build_config
from edge_router.health.memory import MemoryHealthStore, MemoryTable
from edge_router.health.records import Counters, Probe, Transition
from tests.e2e.procs import START_S
from tests.support import chromium
from tests.support.one_key_auth import OneKeyAuth

SEOUL, FRANKFURT, CALIFORNIA = "ap-northeast-2", "eu-central-1", "us-west-1"
CONFIG = {
    "upstreams": [
        {"id": "ap-northeast", "name": "Seoul", "base_url": "http://127.0.0.1:9/v1"},
        {"id": "us-east", "name": "Virginia", "base_url": "http://127.0.0.1:9/v1"},
    ],
    "home": {"local": "ap-northeast", SEOUL: "ap-northeast", FRANKFURT: "us-east",
             CALIFORNIA: "us-east"},
}  # fmt: skip


def build_app(table: MemoryTable | None = None, *, keys: bool = False) -> FastAPI:
    config = build_config(CONFIG, region="local")
    store = MemoryHealthStore("local", table=table)
    return create_app(build_deps(config, store=store, auth=OneKeyAuth("sk-edge-right") if keys else None))


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app on a real socket (uvicorn in a thread), for the browser."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_S  # a thread of this process, on a busy machine
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


async def test_route_serves_the_packaged_page_self_contained() -> None:
    transport = httpx.ASGITransport(app=build_app(keys=True))
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        response = await client.get("/dashboard")  # no key needed for the page itself
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content == load_page()
    assert response.headers["x-edge-region"] == "local"
    assert response.headers["cache-control"] == "no-store"
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    # no external asset: every src/href is a data: URL, and nothing names another origin
    page = response.text
    assert all(v.startswith("data:") for v in re.findall(r'(?:src|href)="([^"]*)"', page))
    assert not re.search(r"https?://|@import|url\(", page)


async def test_other_methods_are_405() -> None:
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
        response = await client.post("/dashboard")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def regional_table(now: float) -> MemoryTable:
    """Seoul opened us-east; Frankfurt's breaker on ap-northeast has cooled down and its checker
    cannot reach us-east; California wrote nothing."""
    table = MemoryTable()

    async def fill() -> None:
        seoul = MemoryHealthStore(SEOUL, table=table)
        await seoul.write_counters([Counters("ap-northeast", 20, 0, 33.0, now - 4),
                                    Counters("us-east", 5, 5, 44.0, now - 4)])
        await seoul.write_transition(
            Transition("us-east", "open", now + 120, now - 2, "HTTP 503 from upstream")
        )
        frankfurt = MemoryHealthStore(FRANKFURT, table=table)
        await frankfurt.write_transition(
            Transition("ap-northeast", "open", now - 5, now - 65, "connect timeout")
        )
        await frankfurt.write_probes([Probe("us-east", False, None, now - 10)])

    asyncio.run(fill())
    return table


def test_browser_draws_every_region_and_state() -> None:
    chromium.require_chromium()
    # GIVEN a router whose store holds other regions' items
    app = build_app(regional_table(time.time()))
    # WHEN a real browser loads the dashboard
    with serving(app) as url:
        page = chromium.parse(chromium.dump_dom(url + "/dashboard"))
    # THEN the matrix has every upstream × (this router + each known region)
    assert page.cells == {
        ("ap-northeast", "local"): "closed",
        ("ap-northeast", SEOUL): "closed",  # counters, never a transition
        ("ap-northeast", FRANKFURT): "half_open",  # open, but the cooldown is over
        ("ap-northeast", CALIFORNIA): "none",
        ("us-east", "local"): "closed",
        ("us-east", SEOUL): "open",
        ("us-east", FRANKFURT): "closed",  # only the health checker wrote (a failed probe)
        ("us-east", CALIFORNIA): "none",
    }
    assert "33 ms" in page.cell_text[("ap-northeast", SEOUL)]
    assert "44 ms" not in page.cell_text[("us-east", SEOUL)]  # open: its latency is history
    # each region's home upstream is marked in its column (this router's `local` included)
    assert page.homes == {("ap-northeast", "local"), ("ap-northeast", SEOUL),
                          ("us-east", FRANKFURT), ("us-east", CALIFORNIA)}
    assert "show" not in page.classes["down"]  # no region is down
    assert "probe failed" in page.cell_text[("us-east", FRANKFURT)]
    assert "no data" in page.cell_text[("us-east", CALIFORNIA)]
    alerts = page.by_id["alerts"]
    assert f"us-east: OPEN in {SEOUL} (until " in alerts
    assert "last error: HTTP 503 from upstream" in alerts
    assert f"us-east: probe FAILED from {FRANKFURT}" in alerts
    assert f"ap-northeast: half-open in {FRANKFURT}" in alerts
    assert f"{CALIFORNIA}: no data for any upstream" in alerts
    assert "show" not in page.classes["banner"]


def test_browser_shows_a_banner_when_status_needs_a_key() -> None:
    chromium.require_chromium()
    with serving(build_app(keys=True)) as url:
        page = chromium.parse(chromium.dump_dom(url + "/dashboard"))
    assert page.classes["banner"] == "show"
    assert page.by_id["banner"] == (
        "Cannot load /status: HTTP 401 — enter a router key (keys mode) or the operator token above"
    )
    assert page.cells == {}
    assert page.by_id["updated"] == "never"


def test_browser_shows_a_region_banner_when_health_would_be_503() -> None:
    chromium.require_chromium()
    # GIVEN this region's health checker reached no upstream a minute ago: /health is 503
    table = MemoryTable()
    now = time.time()
    checker = MemoryHealthStore("local", table=table)
    asyncio.run(checker.write_probes(
        [Probe("ap-northeast", False, None, now - 60), Probe("us-east", False, None, now - 60)]))
    app = build_app(table)
    with serving(app) as url:
        assert httpx.get(url + "/health").status_code == 503
        page = chromium.parse(chromium.dump_dom(url + "/dashboard"))
    # THEN the page says so above everything, naming the region and the reason
    assert page.classes["down"] == "show"
    assert page.by_id["down"] == (
        "local: /health answers 503: this region's health checker found every upstream "
        "unreachable"
    )
    assert page.cells[("ap-northeast", "local")] == "closed"  # the breakers alone look fine


#: Appended to the real page: measures, in the browser, the key field's placeholder against the
#: room the field gives it (canvas text metrics in the field's own computed font).
MEASURE = b"""<script>
addEventListener("load", () => {
  const input = document.getElementById("key");
  const style = getComputedStyle(input);
  const context = document.createElement("canvas").getContext("2d");
  context.font = style.font;
  const text = context.measureText(input.placeholder).width;
  const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const out = document.createElement("div");
  out.id = "measure";
  out.textContent = (text <= room ? "fits" : "overflows") + " " + Math.round(text) + "/" + Math.round(room);
  document.body.append(out);
});
</script>"""


@pytest.mark.parametrize("width", [1280, 640])
def test_the_key_fields_placeholder_fits_in_the_field(width: int) -> None:
    chromium.require_chromium()
    page_bytes = load_page().replace(b"</body>", MEASURE + b"</body>")
    app = FastAPI()
    app.include_router(dashboard_routes.build_router(page_bytes))
    with serving(app) as url:
        dom = chromium.run(url + "/dashboard", "--dump-dom", f"--window-size={width},800")
    result = chromium.parse(dom).by_id["measure"]
    assert result.startswith("fits "), result
