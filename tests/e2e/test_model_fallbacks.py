"""End to end, model fallbacks (SPEC §12): real `serve` and `simulate` processes, the official
`openai` and `anthropic` SDKs. gpt-4.1 lives on two upstreams, Claude on the third."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from .procs import RouterProcess, SimProcess

pytestmark = pytest.mark.e2e

GPT, CLAUDE = "gpt-4.1", "claude-sonnet-4.5"
MESSAGES = [{"role": "user", "content": "Say hello"}]


def chained(router_factory: Callable[..., RouterProcess], sim: SimProcess,
            fallbacks: dict[str, list[str]]) -> RouterProcess:
    models = {"ap-northeast": [GPT], "ap-southeast": [GPT], "us-west": [CLAUDE]}
    upstreams: list[dict[str, Any]] = [
        {**u, "models": models[u["id"]]} for u in sim.config["upstreams"]]
    return router_factory(upstreams=upstreams, model_fallbacks=fallbacks,
                          routing={"max_attempts": 2})


def test_fallback_model_answers_with_its_name_and_price(
    router_factory: Callable[..., RouterProcess], sim: SimProcess
) -> None:
    router = chained(router_factory, sim, {GPT: [CLAUDE]})
    sim.set_fault("ap-northeast", "status:503")
    sim.set_fault("ap-southeast", "status:503")
    client = openai.OpenAI(base_url=router.url + "/v1", api_key="sk-test", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model=GPT, messages=MESSAGES)  # type: ignore[arg-type]
    completion = raw.parse()
    assert raw.headers["x-edge-model"] == CLAUDE
    assert raw.headers["x-edge-attempts"] == "3"
    assert completion.model == CLAUDE
    assert completion.usage is not None
    assert float(raw.headers["x-edge-cost-usd"]) == pytest.approx(
        completion.usage.total_tokens * 15 / 1e6)
    # the Responses API walks the same chain
    response = client.responses.with_raw_response.create(model=GPT, input="hi")
    assert response.headers["x-edge-model"] == CLAUDE
    assert "us-west" in response.parse().output_text


def test_anthropic_client_falls_back_and_chains_do_not_loop(
    router_factory: Callable[..., RouterProcess], sim: SimProcess
) -> None:
    router = chained(router_factory, sim, {CLAUDE: [GPT], GPT: [CLAUDE]})
    client = anthropic.Anthropic(base_url=router.url, default_headers={"x-api-key": "k"},
                                 max_retries=0)
    # GIVEN Claude's only upstream down: the Messages request is answered as gpt-4.1
    sim.set_fault("us-west", "status:529")
    raw = client.messages.with_raw_response.create(model=CLAUDE, max_tokens=8, messages=MESSAGES)  # type: ignore[arg-type]
    assert raw.headers["x-edge-model"] == GPT
    assert raw.headers["x-edge-upstream"] == "ap-northeast"
    # WHEN every upstream fails
    sim.reset()
    sim.set_fault("*", "status:500")
    with pytest.raises(anthropic.InternalServerError) as caught:
        client.messages.create(model=CLAUDE, max_tokens=8, messages=MESSAGES)  # type: ignore[arg-type]
    # THEN two attempts for Claude, two for gpt-4.1, and no way back to Claude
    assert caught.value.status_code == 502
    assert caught.value.response.headers["x-edge-attempts"] == "4"
    assert sim.counts() == {"us-west": 2, "ap-northeast": 1, "ap-southeast": 1}
