"""`edge-router simulate` as a real process: the ready line, the table, the config, clean stop."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from edge_router.config import load_config
from tests.e2e.procs import START_S

pytestmark = pytest.mark.integration


def start(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    """Start the simulator and return it with the lines it printed up to `simulator ready`."""
    process = subprocess.Popen(
        [sys.executable, "-m", "edge_router.cli.main", "simulate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line == "simulator ready\n":
            return process, lines
    process.kill()
    raise AssertionError(f"no ready line; got {lines!r}, stderr {process.communicate()[1]!r}")


def test_cli_serves_prints_the_table_writes_a_config_and_stops_on_sigterm(tmp_path: Path) -> None:
    config_path = tmp_path / "router.yaml"
    process, lines = start(
        "--upstreams",
        "6",
        "--base-port",
        "0",
        "--profile",
        "fast",
        "--seed",
        "3",
        "--fault",
        "us-west=status:503",
        "--models",
        "ap-northeast=gpt-4.1,my-model",
        "--write-config",
        str(config_path),
    )
    try:
        table = dict(
            re.findall(r"^(\S+)\s+(http://127\.0\.0\.1:\d+/v1)", "\n".join(lines), re.MULTILINE)
        )
        assert list(table) == [
            "ap-northeast",
            "ap-southeast",
            "us-west",
            "us-east",
            "eu-central",
            "upstream-6",
        ]
        assert lines[-1] == "simulator ready"
        chat = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}
        reply = httpx.post(table["us-east"] + "/chat/completions", json=chat)
        assert reply.status_code == 200 and "Hello from us-east" in reply.text
        assert httpx.post(table["us-west"] + "/chat/completions", json=chat).status_code == 503
        models = httpx.get(table["ap-northeast"] + "/models").json()
        assert [m["id"] for m in models["data"]] == ["gpt-4.1", "my-model"]

        config = load_config(config_path, environ={})
        assert [(u.id, u.base_url) for u in config.upstreams] == list(table.items())
        check = subprocess.run(
            [sys.executable, "-m", "edge_router.cli.main", "config", "check", str(config_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=5)
    assert process.returncode == 0, err
    assert "simulator stopped" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault", "us-west=explode"], "--fault us-west=explode: unknown fault mode 'explode'"),
        (["--fault", "mars=ok"], "unknown upstream id 'mars'"),
        (["--models", "ap-northeast"], "--models 'ap-northeast': expected ID=VALUE"),
    ],
)
def test_cli_rejects_bad_arguments_with_exit_2(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edge_router.cli.main", "simulate", "--upstreams", "3", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=START_S,
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_cli_help_documents_the_fault_grammar_and_the_control_endpoint() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edge_router.cli.main", "simulate", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=START_S,
    )
    for text in (
        "MODE[:ARG][,key=value...]",
        "status:CODE",
        "retry_after_ms",
        "refuse",
        "rate=R",
        "count=N",
        "POST /_sim/fault",
        "/_sim/state",
        "/_sim/requests",
        "/_sim/reset",
    ):
        assert text in done.stdout
