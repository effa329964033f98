"""Helpers for the keys-mode, redaction and hostile-input e2e tests: a simulator that demands
the upstream key, router keys made with the real CLI, a router whose whole output goes to a
file (a pipe could fill up under debug logging), and raw HTTP for what clients refuse to send."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .procs import EDGE_ROUTER, START_S, SimProcess, free_ports, http, stop

UPSTREAM_KEY = "hs-live-4c1d7f0e9a8b2c3d5e6f"  # what the simulator demands (--require-key)
UPSTREAM_KEY_ENV = "E2E_HOLYSHEEP_KEY"

#: Headers the router itself may send upstream (SPEC §7's allow-list plus what aiohttp adds).
UPSTREAM_HEADER_NAMES = frozenset({
    "content-type", "accept", "authorization", "openai-beta", "openai-organization",
    "openai-project", "x-request-id", "user-agent", "host", "content-length", "accept-encoding",
})


def sim_requests(sim: SimProcess, upstream_id: str) -> list[dict[str, Any]]:
    """What `upstream_id` received, oldest first."""
    port = sim.ports[sim.ids.index(upstream_id)]
    status, answer = http("GET", f"http://127.0.0.1:{port}/_sim/requests?upstream={upstream_id}")
    assert status == 200, answer
    return list(answer["requests"])


def keys_config(sim: SimProcess, tmp: Path, **sections: Any) -> Path:
    """A keys-mode config for `sim`'s upstreams, keys file next to it; returns its path."""
    config = dict(sim.config)
    config["upstreams"] = [{**u, "api_key_env": UPSTREAM_KEY_ENV} for u in config["upstreams"]]
    config["auth"] = {"mode": "keys", "keys_file": "keys.json"}
    config["routing"] = {"connect_timeout_s": 0.5, "first_byte_timeout_s": 1.0, "deadline_s": 8.0,
                         "backoff_base_s": 0.01, "backoff_cap_s": 0.05}
    config.update(sections)
    path = tmp / "router.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def keys_cli(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EDGE_ROUTER, "keys", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=30)


def create_key(name: str, *, config: Path, models: str = "") -> str:
    extra = ["--models", models] if models else []
    done = keys_cli("create", "--name", name, *extra, config=config)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@dataclass
class LoggedRouter:
    proc: subprocess.Popen[bytes]
    port: int
    output: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> str:
        """Stop the router; its whole output (stdout and stderr)."""
        stop(self.proc)  # type: ignore[arg-type]
        return self.output.read_text(encoding="utf-8", errors="replace")


def start_logged_router(
    config: Path, *, env: Mapping[str, str] | None = None, args: Sequence[str] = (),
) -> LoggedRouter:
    port = free_ports(1)[0]
    output = config.with_suffix(f".{port}.log")
    with output.open("wb") as out:
        proc = subprocess.Popen(
            [EDGE_ROUTER, "serve", "--config", str(config), "--port", str(port), *args],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"router exited: {output.read_text()}")
        try:
            if http("GET", f"http://127.0.0.1:{port}/health", timeout=1)[0] in (200, 503):
                return LoggedRouter(proc, port, output)
        except OSError:
            time.sleep(0.05)
    stop(proc)  # type: ignore[arg-type]
    raise RuntimeError("router did not start")


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def raw_request(port: int, request: bytes, *, timeout: float = 5.0) -> RawResponse | None:
    """Send bytes as they are; the parsed answer, or None if the server closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = _content_length(head)
                if length is not None and len(body) >= length:
                    break
    if not data.startswith(b"HTTP/1."):
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(lines[0].split()[1]), headers, body)


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None
