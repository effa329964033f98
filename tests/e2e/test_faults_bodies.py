"""Faults after the headers and before the connection, end to end (real `serve` + `simulate`):
what SPEC §5 says must happen, within the timeouts, with nothing partial for a JSON client.

The long-running versions under load are drills 5 and 6 of `make chaos` (`bench/chaos.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from .procs import RouterProcess, SimProcess, http, start_simulator

pytestmark = pytest.mark.e2e

CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Say hello"}]}
AUTH = {"authorization": "Bearer sk-test"}


def post(router: RouterProcess, *, stream: bool = False) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(router.url + "/v1/chat/completions", json={**CHAT, "stream": stream},
                          headers=AUTH, timeout=15)
    return response, time.monotonic() - started


def upstream(router: RouterProcess, upstream_id: str) -> dict[str, object]:
    _, status = http("GET", router.url + "/status")
    return next(u for u in status["upstreams"] if u["id"] == upstream_id)


@pytest.mark.parametrize("stream", [False, True])
def test_headers_then_stall_fails_over_after_the_idle_limit(
    router_factory: Callable[..., RouterProcess], sim: SimProcess, stream: bool
) -> None:
    router = router_factory(routing={"first_byte_timeout_s": 0.5})
    sim.set_fault("ap-northeast", "stall")
    response, elapsed = post(router, stream=stream)
    assert response.status_code == 200
    assert (response.headers["x-edge-upstream"], response.headers["x-edge-attempts"]) == (
        "ap-southeast", "2")
    assert "chatcmpl-sim-ap-southeast" in response.text
    if stream:
        assert response.text.rstrip().endswith("data: [DONE]")
    else:
        assert orjson.loads(response.content)["choices"]
    assert 0.45 <= elapsed < 4.0  # the idle limit, far from the 8 s deadline a stall would take
    assert upstream(router, "ap-northeast")["consecutive_failures"] == 1  # a hard failure


def test_truncated_json_at_200_fails_over_and_nothing_partial_comes_back(
    router: RouterProcess, sim: SimProcess
) -> None:
    sim.set_fault("ap-northeast", "truncated")
    response, _ = post(router)
    assert response.status_code == 200
    body = orjson.loads(response.content)  # the whole answer of the next upstream
    assert "Hello from ap-southeast" in body["choices"][0]["message"]["content"]
    assert response.headers["x-edge-attempts"] == "2"
    home = upstream(router, "ap-northeast")
    assert (home["consecutive_errors"], home["last_error"]) == (1, "HTTP 200")  # soft failure


def test_a_trickle_is_progress_not_a_stall_and_comes_back_whole(
    router_factory: Callable[..., RouterProcess], sim: SimProcess
) -> None:
    # GIVEN an idle limit of 0.8 s (gaps of a busy machine fit in it) and an answer trickled a
    # byte at a time over ~1.5 s (a limit on the whole read would cut it)
    router = router_factory(routing={"first_byte_timeout_s": 0.8, "deadline_s": 30.0})
    sim.set_fault("ap-northeast", "trickle:0.004")
    response, elapsed = post(router)
    # THEN no gap reached the idle limit: the same upstream's whole answer, once
    assert response.status_code == 200
    assert response.headers["x-edge-upstream"] == "ap-northeast"
    assert response.headers["x-edge-attempts"] == "1"
    assert "Hello from ap-northeast" in orjson.loads(response.content)["choices"][0]["message"][
        "content"]
    assert elapsed > 1.0


def test_a_trickle_past_the_deadline_is_a_whole_504_never_a_partial_answer(
    router_factory: Callable[..., RouterProcess], sim: SimProcess
) -> None:
    router = router_factory(routing={"first_byte_timeout_s": 0.5, "deadline_s": 1.0})
    sim.set_fault("ap-northeast", "trickle")  # a byte every 50 ms: ~19 s for the answer
    response, elapsed = post(router)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "deadline_exceeded"
    assert response.headers["x-should-retry"] == "false"
    assert 0.9 <= elapsed < 4.0  # the deadline, far from the ~19 s of the whole answer


def test_a_trickled_stream_reaches_the_client_as_it_arrives_past_the_deadline(
    router_factory: Callable[..., RouterProcess], sim: SimProcess
) -> None:
    # the deadline stops at the first byte; then only the idle limit (1 s) applies
    deadline = 2.0  # the first byte must beat it, on a busy machine too
    router = router_factory(routing={"first_byte_timeout_s": 1.0, "deadline_s": deadline})
    sim.set_fault("ap-northeast", "trickle")  # a byte every 50 ms: ~19 s for the answer
    received: list[tuple[float, int]] = []
    started = time.monotonic()
    with httpx.stream("POST", router.url + "/v1/chat/completions", headers=AUTH, timeout=5,
                      json={**CHAT, "stream": True}) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            received.append((time.monotonic() - started, len(chunk)))
            if received[-1][0] > deadline + 0.8:
                break
    assert received[0][0] < deadline  # the first byte came on before the deadline
    assert sum(n for t, n in received if t > deadline + 0.2) > 0  # still flowing after it


def test_a_host_name_that_does_not_resolve_is_a_connect_failure(
    router_factory: Callable[..., RouterProcess], sim: SimProcess
) -> None:
    router = router_factory(
        upstreams=[{"id": "no-dns", "base_url": "http://nonexistent.invalid/v1"},
                   *sim.config["upstreams"]],
        home={"local": "no-dns"},
    )
    response, elapsed = post(router)
    assert response.status_code == 200
    assert (response.headers["x-edge-upstream"], response.headers["x-edge-attempts"]) == (
        "ap-northeast", "2")
    assert elapsed < 4.0  # a failed lookup, not a wait for the 8 s deadline
    assert "DNS" in str(upstream(router, "no-dns")["last_error"])


@pytest.fixture(scope="module")
def tls_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    process = start_simulator(tmp_path_factory.mktemp("tls"), 1, "--tls")
    yield process
    process.stop()


def test_a_certificate_that_fails_verification_is_a_connect_failure(
    router_factory: Callable[..., RouterProcess], sim: SimProcess, tls_sim: SimProcess,
    tmp_path: Path,
) -> None:
    # GIVEN an upstream that really serves HTTPS (a client that does not verify gets answers)
    tls_url = tls_sim.config["upstreams"][0]["base_url"]
    assert tls_url.startswith("https://")
    tls_sim.reset()
    assert http("GET", tls_url + "/models")[0] == 200
    router = router_factory(
        upstreams=[{"id": "bad-tls", "base_url": tls_url}, *sim.config["upstreams"]],
        home={"local": "bad-tls"},
    )
    # WHEN the router (which verifies) is asked THEN it fails over; no request reached it
    response, _ = post(router)
    assert response.status_code == 200
    assert (response.headers["x-edge-upstream"], response.headers["x-edge-attempts"]) == (
        "ap-northeast", "2")
    assert "TLS handshake failed: certificate not trusted" in str(
        upstream(router, "bad-tls")["last_error"])
    assert tls_sim.counts() == {"ap-northeast": 1}  # only the check above
