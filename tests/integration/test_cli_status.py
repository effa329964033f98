"""`edge-router status` through the console entry point: against a moto health table written by
two router regions, and against a router-like `/status` over HTTP (keys mode, failures)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from edge_router.cli.main import main
from edge_router.health.dynamodb import DynamoHealthStore
from edge_router.health.records import Counters, Probe, Transition
from edge_router.status_render import clock_time
from tests.support import moto_dynamodb
from tests.support.moto_dynamodb import MotoTable

moto_endpoint = moto_dynamodb.moto_endpoint  # fixtures, used by name
moto_table = moto_dynamodb.moto_table

SEOUL, VIRGINIA, FRANKFURT = "ap-northeast-2", "us-east-1", "eu-central-1"
CONFIG = f"""\
upstreams:
  - {{id: ap-northeast, name: Seoul, base_url: "https://ap.example.com/v1"}}
  - {{id: us-east, name: Virginia, base_url: "https://us.example.com/v1"}}
home:
  {SEOUL}: ap-northeast
  {VIRGINIA}: us-east
  {FRANKFURT}: us-east
"""


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "edge-router.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return str(path)


@pytest.fixture
def table(moto_table: MotoTable, monkeypatch: pytest.MonkeyPatch) -> MotoTable:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_table.endpoint_url)
    moto_dynamodb.patient_clients(monkeypatch)  # the table's reads are not what is tested
    return moto_table


def write(table: MotoTable, region: str, *records: Transition | Counters | Probe) -> None:
    """Write as a router (or health checker) in `region` would, through the real store."""

    async def go() -> None:
        store = DynamoHealthStore(region, table=table.name, table_region=table.region)
        try:
            for record in records:
                if isinstance(record, Transition):
                    await store.write_transition(record)
                elif isinstance(record, Counters):
                    await store.write_counters([record])
                else:
                    await store.write_probes([record])
        finally:
            await store.close()

    asyncio.run(go())


def rows(out: str) -> dict[str, list[str]]:
    """Table lines by their first word, cells split on the two-space column gap, with the
    last-seen age (which depends on how fast the test ran) as `Ns`."""
    table = out.split("\n\n")[1]
    return {
        line.split()[0]: [
            re.sub(r" \d+s\b", " Ns", cell.strip()) for cell in line.split("  ") if cell.strip()
        ]
        for line in table.splitlines()
    }


def test_table_shows_an_upstream_open_in_one_region(
    table: MotoTable, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN Seoul's router opened us-east and reports traffic to ap-northeast; Virginia's
    # router reports traffic to both and its health checker probed both; Frankfurt is silent
    now = time.time()
    open_until = now + 60
    write(
        table, SEOUL,
        Counters("ap-northeast", 12, 0, 38.4, now - 2),
        Transition("us-east", "open", open_until, now - 1, "connect: connection refused"),
    )  # fmt: skip
    write(
        table, VIRGINIA,
        Counters("ap-northeast", 4, 0, 190.0, now - 3),
        Counters("us-east", 30, 1, 12.5, now - 3),
        Probe("us-east", True, 11.0, now - 20),
    )  # fmt: skip
    # WHEN status reads the table
    code = main(["status", "--config", config, "--table", table.name, "--region", VIRGINIA])
    out = capsys.readouterr().out
    # THEN exit 1, a cell per (upstream, region), and plain words for the open circuit
    assert code == 1
    assert out.startswith(f"health matrix from table {table.name} ({VIRGINIA}) at ")
    matrix = rows(out)
    assert matrix["upstream"] == ["upstream", SEOUL, VIRGINIA, FRANKFURT]
    assert matrix["ap-northeast"] == ["ap-northeast", "closed 38ms Ns", "closed 190ms Ns",
                                      "no data"]  # fmt: skip
    assert matrix["us-east"][1:] == ["OPEN - Ns", "closed 12ms Ns", "no data"]
    assert out.rstrip().splitlines()[-2:] == [
        f"us-east: OPEN in {SEOUL} (until {clock_time(open_until)}, "
        "last error: connect: connection refused)",
        f"{FRANKFURT}: no data for any upstream (nothing written from there lately)",
    ]


def test_json_and_an_all_clear_exit_0(
    table: MotoTable, config: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # --region adds Seoul; the replica read is the one EDGE_ROUTER_HEALTH_TABLE_REGION names
    # (moto does not replicate: the only replica is in us-east-1)
    monkeypatch.setenv("EDGE_ROUTER_HEALTH_TABLE_REGION", table.region)
    now = time.time()
    write(table, SEOUL, Transition("us-east", "closed", 0.0, now, None),
          Counters("ap-northeast", 1, 0, 40.0, now))  # fmt: skip
    code = main(["status", "--config", config, "--table", table.name, "--region", SEOUL,
                 "--json"])  # fmt: skip
    captured = capsys.readouterr()
    assert captured.err == ""
    data = json.loads(captured.out)
    assert code == 0
    assert data["down"] is False
    assert data["source"] == f"table {table.name} ({table.region})"
    assert data["regions"] == [SEOUL, VIRGINIA, FRANKFURT]
    assert data["silent_regions"] == [VIRGINIA, FRANKFURT]
    cells = {u["id"]: u["cells"] for u in data["upstreams"]}
    assert cells["us-east"][SEOUL]["state"] == "closed"
    assert cells["ap-northeast"][SEOUL]["latency_ms"] == 40.0
    assert cells["ap-northeast"][VIRGINIA] is None


def test_table_name_and_region_from_the_environment(
    table: MotoTable, config: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("EDGE_ROUTER_HEALTH_TABLE", table.name)
    monkeypatch.setenv("AWS_REGION", VIRGINIA)
    write(table, VIRGINIA, Counters("us-east", 1, 0, 9.0, time.time()))
    assert main(["status", "--config", config]) == 0
    assert rows(capsys.readouterr().out)["us-east"][2] == "closed 9ms Ns"


def test_a_missing_table_is_exit_2_with_the_reason(
    table: MotoTable, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["status", "--config", config, "--table", "nope", "--region", VIRGINIA])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith("edge-router status: cannot read the health table: ")
    assert "ResourceNotFoundException" in captured.err


def test_no_region_anywhere_says_how_to_give_one(
    config: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    assert main(["status", "--config", config]) == 2
    assert capsys.readouterr().err.endswith(
        "(pass --region R or set $AWS_REGION: the replica to read)\n"
    )


def test_memory_store_points_at_url(capsys: pytest.CaptureFixture[str]) -> None:
    # the memory store lives in the serving process: say so, and what to run instead
    assert main(["status", "--store", "memory"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert "inside each `edge-router serve` process" in err and "--url" in err


def test_a_bad_config_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("routing: {strategy: fastest}\n", encoding="utf-8")
    assert main(["status", "--config", str(path)]) == 2
    assert "invalid config: routing.strategy" in capsys.readouterr().err


# --- --url: a stand-in router that wants a key ----------------------------------------------

KEY = "sk-edge-status-test-key"
BODY: dict[str, Any] = {
    "region": "local", "strategy": "failover", "regions": ["local"], "now": 1_700_000_000.0,
    "upstreams": [{"id": "us-east", "name": "Virginia", "state": "closed", "open_until": None,
                   "rate_limited_until": None, "latency_ewma_ms": 20.0, "requests": 1,
                   "errors": 0, "last_error": None, "observers": []}],
}  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    answer: tuple[int, bytes] | None = None

    def do_GET(self) -> None:
        if self.answer is not None:
            status, body = self.answer
        elif self.headers.get("authorization") != f"Bearer {KEY}":
            status, body = 401, b'{"error": {"code": "missing_api_key"}}'
        elif self.path != "/status":
            status, body = 404, b"{}"
        else:
            status, body = 200, json.dumps(BODY).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def keyed_router() -> Iterator[str]:
    _Handler.answer = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_url_without_a_key_says_how_to_give_one(
    keyed_router: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--url", keyed_router]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"edge-router status: {keyed_router}/status answered 401: it wants a router key (keys "
        "mode) or its operator token (ops.token_env); pass --key or set $EDGE_ROUTER_KEY\n"
    )


@pytest.mark.parametrize("how", ["flag", "env", "no-scheme"])
def test_url_with_a_key(
    keyed_router: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:  # fmt: skip
    argv = ["status", "--url", keyed_router + "/status/"]
    if how == "flag":
        argv += ["--key", KEY]
    elif how == "no-scheme":  # `--url 127.0.0.1:8080` means http://
        argv = ["status", "--url", keyed_router.removeprefix("http://"), "--key", KEY]
    else:
        monkeypatch.setenv("EDGE_ROUTER_KEY", KEY)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert rows(out)["us-east"] == ["us-east", "closed 20ms"]
    assert KEY not in out


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((500, b"{}"), "answered HTTP 500"),
        ((200, b"<html>"), "did not answer JSON"),
        ((200, b'{"status": "ok"}'), "is not an edge-router /status"),
    ],
)
def test_url_failures_are_exit_2(
    keyed_router: str, capsys: pytest.CaptureFixture[str], answer: tuple[int, bytes],
    message: str,
) -> None:  # fmt: skip
    _Handler.answer = answer
    assert main(["status", "--url", keyed_router]) == 2
    assert message in capsys.readouterr().err


def test_url_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["status", "--url", f"http://127.0.0.1:{port}"]) == 2
    assert f"cannot reach http://127.0.0.1:{port}/status" in capsys.readouterr().err
