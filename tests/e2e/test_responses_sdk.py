"""End to end, the OpenAI Responses API (SPEC §12): real `serve` and `simulate` processes
driven by the official `openai` SDK — JSON, SSE, the `responses.stream()` helper, failover,
a broken stream, the stateful calls that live on one upstream, and `models.retrieve`."""

from __future__ import annotations

import openai
import pytest

from .procs import RouterProcess, SimProcess

pytestmark = pytest.mark.e2e


def sdk(router: RouterProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=router.url + "/v1", api_key="sk-test", max_retries=0)


def test_create_json(router: RouterProcess, sim: SimProcess) -> None:
    raw = sdk(router).responses.with_raw_response.create(model="gpt-4.1", input="Say hello")
    response = raw.parse()
    assert response.status == "completed"
    assert "ap-northeast" in response.output_text
    assert response.usage is not None and response.usage.output_tokens > 0
    assert raw.headers["x-edge-upstream"] == "ap-northeast"
    assert raw.headers["x-edge-model"] == "gpt-4.1"
    # 8 USD per million tokens, in and out: the cost follows input_tokens/output_tokens
    expected = (response.usage.input_tokens + response.usage.output_tokens) * 8 / 1e6
    assert float(raw.headers["x-edge-cost-usd"]) == pytest.approx(expected)
    assert sim.counts()["ap-northeast"] == 1


def test_create_stream(router: RouterProcess) -> None:
    events = list(sdk(router).responses.create(model="gpt-4.1", input="Say hello", stream=True))
    types = [e.type for e in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert "ap-northeast" in text
    assert events[-1].response.usage is not None  # type: ignore[union-attr]


def test_stream_helper_and_tools(router: RouterProcess) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    with sdk(router).responses.stream(model="gpt-4.1", input="Weather in Paris?",
                                      tools=tools) as stream:  # type: ignore[arg-type]
        final = stream.get_final_response()
    call = final.output[0]
    assert call.type == "function_call"
    assert call.name == "get_weather"
    assert call.arguments == '{"city":"example"}'


def test_failover_on_503(router: RouterProcess, sim: SimProcess) -> None:
    sim.set_fault("ap-northeast", "status:503")
    raw = sdk(router).responses.with_raw_response.create(model="gpt-4.1", input="hi")
    assert raw.headers["x-edge-upstream"] == "ap-southeast"
    assert raw.headers["x-edge-attempts"] == "2"
    assert "ap-southeast" in raw.parse().output_text


def test_a_stream_broken_after_its_first_byte(router: RouterProcess, sim: SimProcess) -> None:
    sim.set_fault("ap-northeast", "cut:3")
    events = list(sdk(router).responses.create(model="gpt-4.1", input="hi", stream=True))
    assert [e.type for e in events[:3]] == [
        "response.created", "response.in_progress", "response.output_item.added"]
    last = events[-1]
    assert len(events) == 4
    assert last.type == "error"
    assert last.code == "stream_interrupted"  # type: ignore[union-attr]
    assert sim.counts() == {"ap-northeast": 1, "ap-southeast": 0, "us-west": 0}  # no replay


def test_stateful_calls_find_the_upstream_that_holds_the_response(
    router: RouterProcess, sim: SimProcess
) -> None:
    # GIVEN a response created on ap-southeast (home answered 503 once)
    client = sdk(router)
    sim.set_fault("ap-northeast", "status:503,count=1")
    created = client.responses.create(model="gpt-4.1", input="Remember me")
    assert "ap-southeast" in created.output_text

    # WHEN it is read back: home says 404, the router moves on
    raw = client.responses.with_raw_response.retrieve(created.id)
    assert raw.parse().id == created.id
    assert raw.headers["x-edge-upstream"] == "ap-southeast"
    assert raw.headers["x-edge-attempts"] == "2"
    items = client.responses.input_items.list(created.id)
    assert items.data[0].type == "message"

    # and a follow-up with previous_response_id goes where the first one lives
    follow = client.responses.with_raw_response.create(
        model="gpt-4.1", input="And now?", previous_response_id=created.id)
    assert follow.headers["x-edge-upstream"] == "ap-southeast"

    # THEN deleting it works once; after that every upstream says 404, and so does the router
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.retrieve(created.id)
    assert caught.value.response.headers["x-edge-attempts"] == "3"


def test_a_plain_create_does_not_move_on_after_404(router: RouterProcess, sim: SimProcess) -> None:
    sim.set_fault("ap-northeast", "status:404")
    with pytest.raises(openai.NotFoundError) as caught:
        sdk(router).responses.create(model="gpt-4.1", input="hi")
    assert caught.value.response.headers["x-edge-attempts"] == "1"


def test_models_retrieve(router: RouterProcess) -> None:
    client = sdk(router)
    model = client.models.retrieve("deepseek-v3.2")
    assert model.id == "deepseek-v3.2"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-9")
    assert caught.value.code == "model_not_found"
