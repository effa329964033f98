"""Issue 11, findings 6, 7 and 11: the HTTP server's own limits against a real `edge-router
serve` process over raw sockets (SPEC §3): the header block bounded at the parser (431 before
more is buffered, RSS flat under floods), header and body read timeouts, a connection cap,
and parse errors in OpenAI's shape. Timing asserts are bounds with slack, never windows."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .procs import RouterProcess, SimProcess, http, start_router

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def limited(sim: SimProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterProcess]:
    config = {**sim.config, "limits": {"header_timeout_s": 1.0, "body_idle_timeout_s": 1.0}}
    router = start_router(tmp_path_factory.mktemp("limits"), config)
    yield router
    router.stop()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def connect(router: RouterProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", router.port), timeout=10)


def read_all(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return out


def closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closed `sock` (recv returns b""), or fail after `seconds`."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the connection was still open after {seconds} s")
    return time.monotonic() - started


def wait_accepted(port: int, seconds: float = 10.0) -> None:
    """Wait until the server listening on `port` has accepted every connection the kernel
    queued for it (a LISTEN socket's rx_queue in /proc/net/tcp is its accept queue): an order,
    where a fixed sleep is a bet on how busy the machine is."""
    deadline = time.monotonic() + seconds
    while True:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                if int(fields[4].split(":")[1], 16) == 0:
                    return
                break
        assert time.monotonic() < deadline, "the server did not accept its queued connections"
        time.sleep(0.02)


def error_of(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower()
    return status, json.loads(body)["error"]


def flood(router: RouterProcess, most: int) -> bytes:
    """Send one endless header line until the router answers (or `most` bytes went)."""
    sock = connect(router)
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: r\r\nX-Flood: ")
        piece = b"a" * 16384
        sent = 0
        while sent < most:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        return read_all(sock)
    finally:
        sock.close()


def test_a_header_flood_is_431_at_the_parser_and_the_router_holds_no_memory(
    limited: RouterProcess,
) -> None:
    before = rss_bytes(limited.proc.pid)
    for _ in range(4):  # GIVEN four clients each sending an endless header line
        answer = flood(limited, 32 * MIB)
        # THEN each gets 431 in OpenAI's shape, on a path that has no checks of its own
        status, error = error_of(answer)
        assert (status, error["code"]) == (431, "request_headers_too_large")
    grown = rss_bytes(limited.proc.pid) - before
    assert grown < 24 * MIB, f"RSS grew {grown / MIB:.0f} MiB"
    assert http("GET", limited.url + "/health")[0] == 200  # and the router is fine


def test_a_complete_head_over_the_limit_is_431(limited: RouterProcess) -> None:
    with connect(limited) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: r\r\n"
                     + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(80)) + b"\r\n")
        status, error = error_of(read_all(sock))
    assert (status, error["code"]) == (431, "request_headers_too_large")


@pytest.mark.parametrize("sent", [b"", b"POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\n"],
                         ids=["silent", "half-a-head"])
def test_a_client_that_does_not_finish_its_headers_is_disconnected(
    limited: RouterProcess, sent: bytes
) -> None:
    with connect(limited) as sock:
        sock.sendall(sent)
        # header_timeout_s is 1 s here; a loaded machine gets plenty of slack
        assert closed_within(sock, 10.0) >= 0.5


def test_a_stalled_body_is_disconnected(limited: RouterProcess) -> None:
    with connect(limited) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\n"
                     b"Authorization: Bearer sk-a\r\nContent-Length: 100\r\n\r\n{\"model\":")
        assert closed_within(sock, 10.0) >= 0.5


def test_a_slow_but_moving_body_is_served(limited: RouterProcess) -> None:
    body = b'{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}'
    with connect(limited) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nConnection: close\r\n"
                     b"Authorization: Bearer sk-a\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 20):  # 4 pieces, 0.4 s apart: 1.6 s > body_idle_timeout_s
            sock.sendall(body[i:i + 20])
            time.sleep(0.4)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("request_bytes", [
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: r\r\nBad\x01Header: x\r\n\r\n",
    b"GARBAGE\r\n\r\n",
], ids=["cl-and-te", "control-char", "no-request-line"])
def test_a_request_the_parser_refuses_is_400_in_openai_shape(
    limited: RouterProcess, request_bytes: bytes
) -> None:
    with connect(limited) as sock:
        sock.sendall(request_bytes)
        status, error = error_of(read_all(sock))
    assert status == 400
    assert error == {"message": "The request is not valid HTTP/1.1.", "type":
                     "invalid_request_error", "param": None, "code": "invalid_http_request"}


def test_connections_over_the_cap_are_refused(
    sim: SimProcess, tmp_path: Path
) -> None:
    config = {**sim.config, "limits": {"max_connections": 8, "header_timeout_s": 60.0}}
    router = start_router(tmp_path, config)
    held: list[socket.socket] = []
    try:
        # GIVEN eight idle connections (the cap)
        held = [connect(router) for _ in range(8)]
        wait_accepted(router.port)  # the router holds all eight
        # WHEN a ninth arrives THEN it is closed at once, long before any timeout
        with connect(router) as extra:
            assert closed_within(extra, 10.0) < 10.0
        # AND once the idle ones go, the router serves again
        for sock in held:
            sock.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                if http("GET", router.url + "/health", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the router did not serve after the cap freed"
            time.sleep(0.1)
    finally:
        for sock in held:
            sock.close()
        router.stop()
