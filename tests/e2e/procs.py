"""Real processes for e2e tests: `edge-router simulate` and `edge-router serve`."""

from __future__ import annotations

import json
import os
import random
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: Short timeouts for routers started by tests and drills (production: 2 / 20 / 25 s), so a
#: hang or a stall costs a second, not twenty.
SHORT_ROUTING = {
    "connect_timeout_s": 0.5,
    "first_byte_timeout_s": 1.0,
    "deadline_s": 8.0,
    "backoff_base_s": 0.01,
    "backoff_cap_s": 0.05,
    "retry_after_max_s": 1.0,
}

EDGE_ROUTER = str(Path(sys.executable).with_name("edge-router"))
#: How long a `simulate`/`serve` process may take to start. Starting costs < 1 s of CPU, but a
#: loaded 2-core machine gave `serve` 13 s of wall clock (load 12): a deadline here only says
#: when to give up on a process that will never start, so it is far from that.
START_S = 90.0


#: Ports for test processes come from below the kernel's ephemeral range (32768-60999 on Linux),
#: so no outgoing connection of a busy machine can take one between our probe and the child's bind
#: (ports handed out by `bind(0)` are ephemeral ones, and a 400-connection test burns thousands).
_PORT_RANGE = (10000, 20000)


def free_ports(count: int) -> list[int]:
    """`count` consecutive free ports (the simulator takes a base port)."""
    rng = random.Random()  # not seeded: parallel suites must not pick the same ports
    for _ in range(200):
        base = rng.randrange(_PORT_RANGE[0], _PORT_RANGE[1] - count)
        ok = True
        for port in range(base, base + count):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return list(range(base, base + count))
    raise RuntimeError("no free port range")


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def http(method: str, url: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
    """One JSON call; https:// is not verified (`simulate --tls` has a self-signed cert)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json"})
    context = _unverified() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _wait_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if needle in line:
            return
        if not line and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
    raise RuntimeError(f"no '{needle}' within {timeout}s")


@dataclass
class SimProcess:
    proc: subprocess.Popen[str]
    ids: list[str]
    ports: list[int]
    config: dict[str, Any]
    control_port: int = 0

    @property
    def scheme(self) -> str:
        return str(self.config["upstreams"][0]["base_url"]).split(":", 1)[0]

    @property
    def control_url(self) -> str:
        """The simulator's own control port: up whatever the upstreams' faults."""
        return f"http://127.0.0.1:{self.control_port}/_sim"

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = http(method, self.control_url + path.removeprefix("/_sim"), body)
        assert status == 200, answer
        return answer

    def set_fault(self, upstream_id: str, spec: str) -> None:
        self._control("POST", "/_sim/fault", {"upstream": upstream_id, "spec": spec})

    def counts(self) -> dict[str, int]:
        answer = self._control("GET", "/_sim/state?upstream=*")
        items = answer if isinstance(answer, list) else answer.get("upstreams", answer)
        if isinstance(items, dict):
            items = list(items.values())
        return {item["id"]: int(item["requests"]) for item in items}

    def reset(self) -> None:
        self._control("POST", "/_sim/reset", {"upstream": "*"})

    def requests(self, upstream_id: str, limit: int = 10) -> list[dict[str, Any]]:
        """The last requests one upstream received (method, path, headers, body)."""
        answer = self._control("GET", f"/_sim/requests?upstream={upstream_id}&limit={limit}")
        return list(answer["requests"])

    def stop(self) -> None:
        stop(self.proc)


def start_simulator(tmp: Path, count: int = 3, *extra: str) -> SimProcess:
    *ports, control_port = free_ports(count + 1)
    config_path = tmp / "sim-config.yaml"
    proc = subprocess.Popen(
        [EDGE_ROUTER, "simulate", "--upstreams", str(count), "--base-port", str(ports[0]),
         "--control-port", str(control_port), "--profile", "fast",
         "--write-config", str(config_path), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    _wait_line(proc, "simulator ready", START_S)
    config = yaml.safe_load(config_path.read_text())
    return SimProcess(proc, [u["id"] for u in config["upstreams"]], ports, config, control_port)


@dataclass
class RouterProcess:
    proc: subprocess.Popen[str]
    port: int
    config_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop(self.proc)


def start_router(
    tmp: Path, config: Mapping[str, Any], *, env: Mapping[str, str] | None = None,
    name: str = "router", args: Sequence[str] = (),
) -> RouterProcess:
    port = free_ports(1)[0]
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(dict(config)))
    proc = subprocess.Popen(
        [EDGE_ROUTER, "serve", "--config", str(path), "--port", str(port), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"router exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            status, _ = http("GET", f"http://127.0.0.1:{port}/health", timeout=1)
            if status in (200, 503):
                return RouterProcess(proc, port, path)
        except OSError:
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError("router did not start")


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
