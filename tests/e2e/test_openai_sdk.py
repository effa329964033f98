"""End to end: real `edge-router serve` and `edge-router simulate` processes, driven by the
official `openai` SDK as a user would drive them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import openai
import pytest

from .procs import RouterProcess, SimProcess, http

pytestmark = pytest.mark.e2e

MESSAGES = [{"role": "user", "content": "Say hello"}]


def sdk(router: RouterProcess, **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=router.url + "/v1", api_key="sk-test", **kwargs)  # type: ignore[arg-type]


def chat_raw(client: openai.OpenAI) -> httpx.Response:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4.1", messages=MESSAGES)  # type: ignore[arg-type]
    return raw.http_response


def test_plain_chat_through_the_sdk(router: RouterProcess, sim: SimProcess) -> None:
    client = sdk(router)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4.1", messages=MESSAGES)  # type: ignore[arg-type]
    completion = raw.parse()
    assert "ap-northeast" in (completion.choices[0].message.content or "")
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert raw.headers["x-edge-upstream"] == "ap-northeast"
    assert float(raw.headers["x-edge-cost-usd"]) > 0
    assert sim.counts()["ap-northeast"] == 1


def test_streamed_chat_through_the_sdk(router: RouterProcess) -> None:
    stream = sdk(router).chat.completions.create(
        model="gpt-4.1", messages=MESSAGES, stream=True,  # type: ignore[arg-type]
        stream_options={"include_usage": True},
    )
    text = ""
    usage = None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage is not None:
            usage = chunk.usage
    assert "ap-northeast" in text
    assert usage is not None and usage.completion_tokens > 0


@pytest.mark.parametrize("fault", ["status:500", "status:503", "reset", "hang", "html",
                                   "html:200", "refuse"])
def test_failover(
    router_factory: Callable[..., RouterProcess], sim: SimProcess, fault: str
) -> None:
    # a hang costs the first-byte timeout (1 s); for the rest it is 10 s, so that a failover
    # that waited for a timeout stands far apart from one that did not
    first_byte_s = 1.0 if fault == "hang" else 10.0
    router = router_factory(routing={"first_byte_timeout_s": first_byte_s})
    client = sdk(router, max_retries=0)
    chat_raw(client)  # the router now holds a pooled keep-alive connection to the home upstream
    sim.set_fault("ap-northeast", fault)
    started = time.monotonic()
    response = chat_raw(client)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.headers["x-edge-upstream"] == "ap-southeast"
    assert response.headers["x-edge-attempts"] == "2"
    if fault != "hang":  # only a hang should cost the first-byte timeout
        assert elapsed < 3.0, f"{fault}: failover took {elapsed:.2f} s"


def test_breaker_open_skip_half_open_closed(
    router_factory: Callable[..., RouterProcess], sim: SimProcess
) -> None:
    # a cooldown long enough for the checks below on a busy machine, before it passes
    router = router_factory(breaker={"consecutive_failures": 3, "cooldown_s": 3})
    client = sdk(router, max_retries=0)
    sim.set_fault("ap-northeast", "reset")
    for _ in range(3):
        assert chat_raw(client).headers["x-edge-upstream"] == "ap-southeast"
    _, status = http("GET", router.url + "/status")
    assert status["upstreams"][0]["state"] == "open"
    # open: skipped without an attempt
    response = chat_raw(client)
    assert response.headers["x-edge-attempts"] == "1"
    assert sim.counts()["ap-northeast"] == 3
    # upstream recovers; after the cooldown one trial closes the circuit
    sim.set_fault("ap-northeast", "ok")
    time.sleep(3.1)
    _, status = http("GET", router.url + "/status")
    assert status["upstreams"][0]["state"] == "half_open"
    assert chat_raw(client).headers["x-edge-upstream"] == "ap-northeast"
    _, status = http("GET", router.url + "/status")
    assert status["upstreams"][0]["state"] == "closed"


@pytest.mark.parametrize(("status", "exc"), [(400, openai.BadRequestError),
                                            (401, openai.AuthenticationError)])
def test_upstream_4xx_passes_through_without_failover(
    router: RouterProcess, sim: SimProcess, status: int, exc: type[Exception]
) -> None:
    sim.set_fault("ap-northeast", f"status:{status}")
    with pytest.raises(exc) as caught:
        chat_raw(sdk(router, max_retries=0))
    assert caught.value.response.headers["x-edge-attempts"] == "1"  # type: ignore[attr-defined]
    assert sim.counts() == {"ap-northeast": 1, "ap-southeast": 0, "us-west": 0}


def test_429_fails_over(router: RouterProcess, sim: SimProcess) -> None:
    sim.set_fault("ap-northeast", "status:429,retry_after=20")
    response = chat_raw(sdk(router, max_retries=0))
    assert response.headers["x-edge-upstream"] == "ap-southeast"


def test_429_wait_then_success(
    router_factory: Callable[..., RouterProcess], sim: SimProcess
) -> None:
    router = router_factory(routing={"max_attempts": 4})  # a retry after a 429 wait counts
    for upstream_id in sim.ids:
        sim.set_fault(upstream_id, "status:429,retry_after_ms=300,count=1")
    started = time.monotonic()
    response = chat_raw(sdk(router, max_retries=0))
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.25
    assert response.headers["x-edge-attempts"] == "4"  # a 429 on each, then a retry after the wait
    assert sum(sim.counts().values()) == 4


def test_all_down_is_502_and_the_sdk_does_not_multiply_attempts(
    router: RouterProcess, sim: SimProcess
) -> None:
    for upstream_id in sim.ids:
        sim.set_fault(upstream_id, "status:503")
    client = sdk(router)  # default max_retries=2: x-should-retry: false must stop them
    with pytest.raises(openai.InternalServerError) as caught:
        chat_raw(client)
    assert caught.value.status_code == 502
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert sum(sim.counts().values()) == 3  # max_attempts, not 3 x (1 + SDK retries)


def test_all_open_is_503_with_retry_after(
    router_factory: Callable[..., RouterProcess], sim: SimProcess
) -> None:
    router = router_factory(breaker={"consecutive_failures": 1, "cooldown_s": 30})
    for upstream_id in sim.ids:
        sim.set_fault(upstream_id, "reset")
    client = sdk(router, max_retries=0)
    with pytest.raises(openai.APIStatusError) as first:
        chat_raw(client)
    assert first.value.status_code == 502
    with pytest.raises(openai.APIStatusError) as caught:
        chat_raw(client)
    assert caught.value.status_code == 503
    assert caught.value.body["code"] == "no_upstream_available"  # type: ignore[index]
    assert 25 <= int(caught.value.response.headers["retry-after"]) <= 30
    assert sum(sim.counts().values()) == 3


def test_mid_stream_cut_is_not_replayed(router: RouterProcess, sim: SimProcess) -> None:
    sim.set_fault("ap-northeast", "cut")
    stream = sdk(router, max_retries=0).chat.completions.create(
        model="gpt-4.1", messages=MESSAGES, stream=True,  # type: ignore[arg-type]
    )
    with pytest.raises(openai.APIError) as caught:
        for _ in stream:
            pass
    assert "stream" in str(caught.value).lower()
    assert sim.counts() == {"ap-northeast": 1, "ap-southeast": 0, "us-west": 0}


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    [
        ({"content": b"{not json", "headers": {"authorization": "Bearer k"}}, 400, "invalid_json"),
        ({"json": {"model": "gpt-4.1"}, "headers": {"authorization": "Bearer k"}}, 400,
         "missing_field"),
        ({"json": {"model": "gpt-4.1", "messages": []}, "headers": {"authorization": "Bearer k"}},
         400, "invalid_field"),
        ({"json": {"model": "gpt-4.1", "messages": MESSAGES}}, 401, "missing_api_key"),
        ({"json": {"model": "gpt-4.1", "messages": MESSAGES},
          "headers": {"authorization": "Bearer"}}, 401, "missing_api_key"),
        ({"content": b"x" * 7_000_000, "headers": {"authorization": "Bearer k"}}, 413,
         "request_too_large"),
    ],
)
def test_router_errors_make_no_upstream_call(
    router: RouterProcess, sim: SimProcess, request_kwargs: dict[str, object], status: int,
    code: str,
) -> None:
    response = httpx.post(router.url + "/v1/chat/completions", timeout=10, **request_kwargs)  # type: ignore[arg-type]
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert response.headers["x-edge-region"] == "local"
    assert sum(sim.counts().values()) == 0


def test_unknown_path_and_wrong_method(router: RouterProcess, sim: SimProcess) -> None:
    missing = httpx.get(router.url + "/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = httpx.get(router.url + "/v1/chat/completions")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert sum(sim.counts().values()) == 0


def test_400_concurrent_requests_with_a_failing_home_see_no_error(
    router_factory: Callable[..., RouterProcess], sim: SimProcess
) -> None:
    # Timeouts for a busy machine (the client's connect, the router's first byte), and a retry
    # budget that lets every request fail over once (how many reach the home upstream before
    # its circuit opens depends on how this machine interleaves them; the budget is
    # test_faults_load's subject): 400 requests at once see the failover, whatever the speed.
    router = router_factory(routing={"connect_timeout_s": 5.0, "first_byte_timeout_s": 10.0,
                                     "deadline_s": 60.0, "retry_budget": 1.0})
    sim.set_fault("ap-northeast", "status:503")

    async def run() -> list[int]:
        client = openai.AsyncOpenAI(base_url=router.url + "/v1", api_key="sk-test", max_retries=0,
                                    timeout=httpx.Timeout(120.0, connect=60.0))
        async def one() -> int:
            raw = await client.chat.completions.with_raw_response.create(
                model="gpt-4.1", messages=MESSAGES)  # type: ignore[arg-type]
            return raw.http_response.status_code
        try:
            return list(await asyncio.gather(*(one() for _ in range(400))))
        finally:
            await client.close()

    statuses = asyncio.run(run())
    assert statuses == [200] * 400
    counts = sim.counts()
    assert counts["ap-southeast"] + counts["us-west"] == 400
    # the home upstream's run of errors opened its circuit (how many of the 400 reached it first
    # depends on how fast this machine answers them): the next request goes elsewhere at once
    _, status = http("GET", router.url + "/status")
    assert {u["id"]: u["state"] for u in status["upstreams"]}["ap-northeast"] == "open"
    assert chat_raw(sdk(router, max_retries=0)).headers["x-edge-attempts"] == "1"
    assert sim.counts()["ap-northeast"] == counts["ap-northeast"]
