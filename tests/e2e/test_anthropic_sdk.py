"""End to end, Anthropic's Messages API (SPEC §12): real `serve` and `simulate` processes
driven by the official `anthropic` SDK — `messages.create` JSON and stream, the
`messages.stream()` helper, count_tokens, failover on 503 and 529, a broken stream, the
router's own errors in Anthropic's shape, and the credential in the header it came in."""

from __future__ import annotations

import anthropic
import pytest

from .procs import RouterProcess, SimProcess

pytestmark = pytest.mark.e2e

MODEL = "claude-sonnet-4.5"
HELLO = [{"role": "user", "content": "Say hello"}]


def sdk(router: RouterProcess, max_retries: int = 0) -> anthropic.Anthropic:
    """A client that sends its key as `x-api-key`, as Claude Code does with
    `ANTHROPIC_API_KEY` (this SDK's `api_key=` sends `Authorization: Bearer`)."""
    return anthropic.Anthropic(base_url=router.url, default_headers={"x-api-key": "sk-ant-test"},
                               max_retries=max_retries)


def test_create_json(router: RouterProcess, sim: SimProcess) -> None:
    raw = sdk(router).messages.with_raw_response.create(model=MODEL, max_tokens=64,
                                                        messages=HELLO)  # type: ignore[arg-type]
    message = raw.parse()
    assert message.stop_reason == "end_turn"
    assert "ap-northeast" in message.content[0].text  # type: ignore[union-attr]
    assert raw.headers["x-edge-upstream"] == "ap-northeast"
    assert raw.headers["x-edge-model"] == MODEL
    # 15 USD per million tokens, in and out
    expected = (message.usage.input_tokens + message.usage.output_tokens) * 15 / 1e6
    assert float(raw.headers["x-edge-cost-usd"]) == pytest.approx(expected)
    # passthrough: the key went upstream as x-api-key, as it came, with the version header
    sent = sim.requests("ap-northeast", 1)[0]["headers"]
    lower = {k.lower(): v for k, v in sent.items()}
    assert lower["x-api-key"] == "sk-ant-test"
    assert "authorization" not in lower
    assert lower["anthropic-version"]  # forwarded as the SDK sent it


def test_create_stream(router: RouterProcess) -> None:
    events = list(sdk(router).messages.create(model=MODEL, max_tokens=64, messages=HELLO,  # type: ignore[arg-type]
                                              stream=True))
    types = [e.type for e in events]
    assert types[0] == "message_start"
    assert types[-2:] == ["message_delta", "message_stop"]
    text = "".join(e.delta.text for e in events  # type: ignore[union-attr]
                   if e.type == "content_block_delta")
    assert "ap-northeast" in text


def test_stream_helper_with_a_bearer_token(router: RouterProcess, sim: SimProcess) -> None:
    client = anthropic.Anthropic(base_url=router.url, auth_token="sk-ant-bearer", max_retries=0)
    with client.messages.stream(model=MODEL, max_tokens=64, messages=HELLO) as stream:  # type: ignore[arg-type]
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "ap-northeast" in text
    assert final.usage.output_tokens > 1
    sent = {k.lower(): v for k, v in sim.requests("ap-northeast", 1)[0]["headers"].items()}
    assert sent["authorization"] == "Bearer sk-ant-bearer"
    assert "x-api-key" not in sent


def test_tool_use_and_count_tokens(router: RouterProcess) -> None:
    client = sdk(router)
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    message = client.messages.create(model=MODEL, max_tokens=64, messages=HELLO,  # type: ignore[arg-type]
                                     tools=tools)  # type: ignore[arg-type]
    assert message.stop_reason == "tool_use"
    assert message.content[0].input == {"city": "example"}  # type: ignore[union-attr]
    counted = client.messages.count_tokens(model=MODEL, messages=HELLO)  # type: ignore[arg-type]
    assert counted.input_tokens == 3  # "Say hello": 9 characters, four to a token


@pytest.mark.parametrize("fault", ["status:503", "status:529"])
def test_failover(router: RouterProcess, sim: SimProcess, fault: str) -> None:
    sim.set_fault("ap-northeast", fault)
    raw = sdk(router).messages.with_raw_response.create(model=MODEL, max_tokens=64,
                                                        messages=HELLO)  # type: ignore[arg-type]
    assert raw.headers["x-edge-upstream"] == "ap-southeast"
    assert raw.headers["x-edge-attempts"] == "2"


def test_a_stream_broken_after_its_first_byte(router: RouterProcess, sim: SimProcess) -> None:
    sim.set_fault("ap-northeast", "cut:3")
    seen = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        for event in sdk(router).messages.create(model=MODEL, max_tokens=64, messages=HELLO,  # type: ignore[arg-type]
                                                 stream=True):
            seen.append(event.type)
    assert seen == ["message_start", "content_block_start"]  # `ping` is skipped by the SDK
    assert caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert "stream broke" in caught.value.body["error"]["message"]  # type: ignore[index]
    assert sim.counts() == {"ap-northeast": 1, "ap-southeast": 0, "us-west": 0}


def test_router_errors_in_anthropics_shape(router: RouterProcess, sim: SimProcess) -> None:
    client = sdk(router)
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model=MODEL, messages=HELLO, max_tokens=8,  # type: ignore[arg-type]
                               extra_body={"max_tokens": True})
    assert bad.value.body == {"type": "error", "error": {
        "type": "invalid_request_error", "message": "'max_tokens' must be an integer."}}
    with pytest.raises(anthropic.NotFoundError) as unknown:
        client.messages.create(model="claude-9", max_tokens=8, messages=HELLO)  # type: ignore[arg-type]
    # the upstream's own 404 passes through, unchanged, after one attempt
    assert unknown.value.body == {"type": "error", "error": {
        "type": "not_found_error", "message": "model: claude-9"}}
    assert unknown.value.response.headers["x-edge-attempts"] == "1"
    # every upstream down: the router's 502, Anthropic-shaped, not retried by the SDK
    sim.reset()
    sim.set_fault("*", "status:500")
    with pytest.raises(anthropic.InternalServerError) as failed:
        sdk(router, max_retries=2).messages.create(model=MODEL, max_tokens=8,
                                                   messages=HELLO)  # type: ignore[arg-type]
    assert failed.value.status_code == 502
    assert failed.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert failed.value.response.headers["x-should-retry"] == "false"
    assert sum(sim.counts().values()) == 3  # one request's three attempts, no SDK retry


def test_missing_credential_is_anthropic_shaped(router: RouterProcess) -> None:
    import httpx

    resp = httpx.post(router.url + "/v1/messages", json={"model": MODEL, "max_tokens": 8,
                                                          "messages": HELLO})
    assert resp.status_code == 401
    assert resp.json()["type"] == "error"
    assert resp.json()["error"]["type"] == "authentication_error"
