"""Per-key limits and the usage report end to end (SPEC §13): real `edge-router keys`, `serve`,
`simulate --require-key` and `usage` processes, driven by the official openai SDK.

- rpm: the SDK gets `RateLimitError` (type `requests`), with OpenAI's x-ratelimit-* headers on
  every answer to the key, and no upstream call for the refusal;
- a spent budget: `RateLimitError` (`insufficient_quota`) after exactly one request, though the
  SDK would retry a 429 twice by default (`x-should-retry: false`); streams that never asked for
  their usage spend it too;
- `edge-router usage` on a moto-server table matches the traffic sent: requests exactly, tokens
  and cost as the upstream reported them (streams included).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support import moto_dynamodb

from .procs import EDGE_ROUTER, SimProcess, start_simulator
from .security_support import (
    UPSTREAM_KEY,
    UPSTREAM_KEY_ENV,
    LoggedRouter,
    keys_cli,
    keys_config,
    start_logged_router,
)

pytestmark = pytest.mark.e2e

MESSAGES: Any = [{"role": "user", "content": "Say hello"}]
GPT_PER_TOKEN = Decimal("8") / 1_000_000  # gpt-4.1 at the default pricing, in and out


@pytest.fixture(scope="module")
def keyed_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    process = start_simulator(tmp_path_factory.mktemp("limits-sim"), 2,
                              "--require-key", UPSTREAM_KEY)
    yield process
    process.stop()


def create(name: str, config: Path, *limits: str) -> str:
    done = keys_cli("create", "--name", name, *limits, config=config)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def sdk(router: LoggedRouter, key: str, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=router.url + "/v1", api_key=key, **kwargs)


def upstream_calls(sim: SimProcess) -> int:
    return sum(sim.counts().values())


def not_near_a_minute_end(margin_s: float = 10.0) -> None:
    """rpm windows are UTC minutes: start a short sequence early enough in one."""
    left = 60 - time.time() % 60
    if left < margin_s:
        time.sleep(left + 0.1)


@pytest.fixture(scope="module")
def memory_router(keyed_sim: SimProcess, tmp_path_factory: pytest.TempPathFactory,
                  ) -> Iterator[tuple[LoggedRouter, Path]]:
    config = keys_config(keyed_sim, tmp_path_factory.mktemp("limits-memory"))
    create("ops", config)
    router = start_logged_router(config, env={UPSTREAM_KEY_ENV: UPSTREAM_KEY})
    yield router, config
    router.stop()


def test_rpm_gives_the_sdk_a_rate_limit_error_without_an_upstream_call(
    memory_router: tuple[LoggedRouter, Path], keyed_sim: SimProcess,
) -> None:
    router, config = memory_router
    key = create("rpm-3", config, "--rpm", "3", "--tpm", "100000")
    client = sdk(router, key, max_retries=0)
    not_near_a_minute_end()
    before = upstream_calls(keyed_sim)
    remaining = []
    for _ in range(3):
        raw = client.chat.completions.with_raw_response.create(model="gpt-4.1",
                                                                messages=MESSAGES)
        remaining.append(raw.headers["x-ratelimit-remaining-requests"])
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        assert raw.headers["x-ratelimit-limit-tokens"] == "100000"
    assert remaining == ["2", "1", "0"]
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    error = refused.value
    assert error.status_code == 429
    assert error.body == {"message": "Rate limit reached for this API key: 3 requests per minute.",
                          "type": "requests", "param": None, "code": "rate_limit_exceeded"}
    assert 1 <= int(error.response.headers["retry-after"]) <= 60
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert upstream_calls(keyed_sim) == before + 3


def test_a_spent_budget_stops_the_sdk_after_one_request(
    memory_router: tuple[LoggedRouter, Path], keyed_sim: SimProcess,
) -> None:
    router, config = memory_router
    key = create("budget", config, "--budget-usd", "0.0004")
    spent = Decimal(0)
    while spent < Decimal("0.0004"):
        raw = sdk(router, key, max_retries=0).chat.completions.with_raw_response.create(
            model="gpt-4.1", messages=MESSAGES)
        spent += Decimal(raw.headers["x-edge-cost-usd"])
    sent: list[str] = []
    counting = httpx.Client(event_hooks={"request": [lambda r: sent.append(r.url.path)]})
    before = upstream_calls(keyed_sim)
    requests_before = router_requests(router, key)
    with pytest.raises(openai.RateLimitError) as refused:  # default: up to 2 retries
        sdk(router, key, http_client=counting).chat.completions.create(
            model="gpt-4.1", messages=MESSAGES)
    assert refused.value.code == "insufficient_quota"
    assert refused.value.response.headers["x-should-retry"] == "false"
    assert sent == ["/v1/chat/completions"]  # one request: the SDK did not retry
    assert router_requests(router, key) == requests_before + 1  # as the router counted them
    assert upstream_calls(keyed_sim) == before


def test_streams_that_do_not_ask_for_usage_still_spend_the_budget(
    memory_router: tuple[LoggedRouter, Path], keyed_sim: SimProcess,
) -> None:
    """A key with a budget streams without `stream_options`: the router asks the upstream for
    the usage itself, so the budget counts the stream, and the client never sees the usage-only
    chunk it did not ask for (code reading `chunk.choices[0]` keeps working)."""
    router, config = memory_router
    key = create("streamer", config, "--budget-usd", "0.0004")
    client = sdk(router, key, max_retries=0)
    streams = 0
    with pytest.raises(openai.RateLimitError) as refused:
        while streams < 30:  # a stream costs ~0.0001 here: the budget is gone after a few
            stream = client.chat.completions.create(model="gpt-4.1", messages=MESSAGES,
                                                    stream=True)
            chunks = list(stream)
            assert chunks and all(len(c.choices) == 1 for c in chunks)  # no usage-only chunk
            assert all(c.usage is None for c in chunks)
            assert "".join(c.choices[0].delta.content or "" for c in chunks)
            streams += 1
    assert refused.value.code == "insufficient_quota"
    assert 2 <= streams < 30


def router_requests(router: LoggedRouter, key: str) -> int:
    status, body = http_json(router.url + "/status", key)
    assert status == 200, body
    return int(body["metrics"].get("Requests", 0))


def http_json(url: str, key: str) -> tuple[int, Any]:
    answer = httpx.get(url, headers={"authorization": f"Bearer {key}"}, timeout=5)
    return answer.status_code, answer.json()


# -- the usage report, from `serve` on a moto-server table -----------------------------------
@pytest.fixture
def table() -> Iterator[tuple[str, str]]:
    with moto_dynamodb.moto_server() as endpoint:
        name = "usage-e2e"
        moto_dynamodb.create_table(moto_dynamodb.client(endpoint), name)
        yield endpoint, name


def test_the_usage_report_matches_the_traffic_sent(
    keyed_sim: SimProcess, table: tuple[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint, name = table
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
    config = keys_config(keyed_sim, tmp_path, health={
        "store": "dynamodb", "table": name, "table_region": "us-east-1", "sync_interval_s": 0.5})
    alice, bob = create("alice", config, "--rpm", "1000"), create("bob", config)
    router = start_logged_router(config, env={UPSTREAM_KEY_ENV: UPSTREAM_KEY})
    expected: dict[str, dict[str, Any]] = {}

    def book(who: str, prompt: int, completion: int, cost: Decimal) -> None:
        row = expected.setdefault(who, {"requests": 0, "prompt_tokens": 0,
                                        "completion_tokens": 0, "cost_usd": Decimal(0)})
        row["requests"] += 1
        row["prompt_tokens"] += prompt
        row["completion_tokens"] += completion
        row["cost_usd"] += cost

    try:
        # GIVEN JSON answers and streams for alice, and answers for bob on another model
        for _ in range(3):
            raw = sdk(router, alice).chat.completions.with_raw_response.create(
                model="gpt-4.1", messages=MESSAGES)
            usage = raw.parse().usage
            assert usage is not None
            book("alice", usage.prompt_tokens, usage.completion_tokens,
                 Decimal(raw.headers["x-edge-cost-usd"]))
        for _ in range(2):
            stream = sdk(router, alice).chat.completions.create(
                model="gpt-4.1", messages=MESSAGES, stream=True,
                stream_options={"include_usage": True})
            final = [chunk.usage for chunk in stream if chunk.usage is not None]
            assert len(final) == 1
            book("alice", final[0].prompt_tokens, final[0].completion_tokens,
                 (final[0].prompt_tokens + final[0].completion_tokens) * GPT_PER_TOKEN)
        for _ in range(4):
            usage = sdk(router, bob).embeddings.create(model="text-embedding-3-small",
                                                        input="hello").usage
            book("bob", usage.prompt_tokens, 0, Decimal(0))  # no price: no cost
        # WHEN the report is asked for once the routers have flushed (every 0.5 s)
        deadline = time.monotonic() + 15
        while (report := usage_json(config)).get("total", {}).get("requests") != 9:
            assert time.monotonic() < deadline, report
            time.sleep(0.3)
    finally:
        router.stop()
    # THEN requests match exactly, tokens and cost as the upstream reported them
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == {"alice", "bob"}
    for who, row in expected.items():
        assert rows[who] == {"key": who, **row, "cost_usd": float(row["cost_usd"])}, who
    assert report["total"]["requests"] == 9
    by_model = usage_json(config, "--by", "model", "--key", "alice")
    assert [(r["model"], r["requests"]) for r in by_model["rows"]] == [("gpt-4.1", 5)]
    table_text = usage_cli(config, "--by", "region")
    assert "local" in table_text and "TOTAL" in table_text
    csv_text = usage_cli(config, "--csv")
    assert csv_text.splitlines()[0] == "key,requests,prompt_tokens,completion_tokens,cost_usd"
    assert csv_text.splitlines()[-1].startswith("TOTAL,9,")


def usage_cli(config: Path, *args: str) -> str:
    done = subprocess.run([EDGE_ROUTER, "usage", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def usage_json(config: Path, *args: str) -> dict[str, Any]:
    return json.loads(usage_cli(config, "--json", *args))  # type: ignore[no-any-return]
