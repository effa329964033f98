"""What a healthy simulated upstream answers (pure `endpoints.answer`), ids, specs and config."""

from __future__ import annotations

import base64
import json
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from edge_router.config import load_config
from edge_router.simulator import (
    DEFAULT_MODELS,
    UpstreamSpec,
    config_dict,
    default_specs,
    upstream_ids,
    write_config,
)
from edge_router.simulator.answers import Answer
from edge_router.simulator.endpoints import answer
from edge_router.simulator.responses import models_list
from edge_router.simulator.runtime import UpstreamRuntime
from edge_router.simulator.upstreams import latency_range_ms


def ask(
    path: str,
    payload: Any = None,
    *,
    method: str = "POST",
    raw: bytes | None = None,
    authorization: str | None = None,
    require_key: str | None = None,
) -> Answer:
    body = raw if raw is not None else json.dumps(payload).encode()
    return answer(
        method,
        path,
        body,
        upstream_id="us-east",
        models_body=models_list(["m1", "m2"], 1),
        authorization=authorization,
        require_key=require_key,
        rid="sim-us-east-000007",
        created=1700000000,
    )


def events_of(reply: Answer) -> list[str]:
    assert reply.events is not None
    return [e.decode().removeprefix("data: ").removesuffix("\n\n") for e in reply.events]


def test_chat_json_names_the_upstream_echoes_the_model_and_counts_tokens() -> None:
    reply = ask(
        "/v1/chat/completions",
        {"model": "gpt-4.1", "messages": [{"role": "user", "content": "x" * 40}]},
    )
    assert (reply.status, reply.content_type, reply.events) == (200, "application/json", None)
    body = json.loads(reply.body)
    assert body["object"] == "chat.completion"
    assert body["id"] == "chatcmpl-sim-us-east-000007"
    assert body["model"] == "gpt-4.1"
    message = body["choices"][0]["message"]
    assert message["role"] == "assistant"
    assert "Hello from us-east" in message["content"] and "gpt-4.1" in message["content"]
    assert body["choices"][0]["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["prompt_tokens"] == 10
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 10


def test_chat_stream_is_role_content_finish_usage_done() -> None:
    reply = ask(
        "/v1/chat/completions",
        {
            "model": "claude-sonnet-4.5",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        },
    )
    assert reply.content_type == "text/event-stream"
    events = events_of(reply)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert "Hello from us-east" in text and "claude-sonnet-4.5" in text
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 1


def test_chat_stream_without_include_usage_has_no_usage_chunk() -> None:
    reply = ask(
        "/v1/chat/completions",
        {"model": "m", "stream": True, "messages": [{"role": "user", "content": "a"}]},
    )
    chunks = [json.loads(e) for e in events_of(reply)[:-1]]
    assert all(c["choices"] for c in chunks)
    assert all("usage" not in c for c in chunks)


def test_completions_json_and_stream() -> None:
    body = json.loads(ask("/v1/completions", {"model": "gpt-4.1", "prompt": "abcd"}).body)
    assert body["object"] == "text_completion"
    assert "Hello from us-east" in body["choices"][0]["text"]
    assert body["usage"]["prompt_tokens"] == 1
    events = events_of(ask("/v1/completions", {"model": "gpt-4.1", "prompt": "a", "stream": True}))
    assert events[-1] == "[DONE]"
    assert json.loads(events[0])["choices"][0]["text"] == "Hello"


def test_embeddings_are_deterministic_unit_vectors_and_base64_packs_the_same_floats() -> None:
    payload = {"model": "text-embedding-3-small", "input": ["alpha", "beta"], "dimensions": 8}
    first = json.loads(ask("/v1/embeddings", payload).body)
    again = json.loads(ask("/v1/embeddings", payload).body)
    assert first == again
    vectors = [d["embedding"] for d in first["data"]]
    assert [d["index"] for d in first["data"]] == [0, 1]
    assert all(len(v) == 8 for v in vectors) and vectors[0] != vectors[1]
    assert abs(sum(x * x for x in vectors[0]) - 1.0) < 1e-4
    assert first["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    packed = json.loads(ask("/v1/embeddings", {**payload, "encoding_format": "base64"}).body)
    decoded = struct.unpack("<8f", base64.b64decode(packed["data"][0]["embedding"]))
    assert decoded == pytest.approx(vectors[0], abs=1e-6)


def test_embeddings_default_size_is_text_embedding_3_small() -> None:
    body = json.loads(ask("/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"}).body)
    assert len(body["data"][0]["embedding"]) == 1536


def test_models_lists_the_configured_models() -> None:
    body = json.loads(ask("/v1/models", method="GET", raw=b"").body)
    assert [m["id"] for m in body["data"]] == ["m1", "m2"]
    assert body["object"] == "list"


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        (
            {"path": "/v1/chat/completions", "raw": b"{not json"},
            400,
            {
                "message": "We could not parse the JSON body of your request.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_json",
            },
        ),
        ({"path": "/v1/chat/completions", "raw": b""}, 400, None),
        ({"path": "/v1/chat/completions", "raw": b"[1]"}, 400, None),
        (
            {
                "path": "/v1/chat/completions",
                "payload": {"messages": [{"role": "user", "content": "a"}]},
            },
            400,
            {
                "message": "you must provide a model parameter",
                "type": "invalid_request_error",
                "param": "model",
                "code": "missing_field",
            },
        ),
        ({"path": "/v1/chat/completions", "payload": {"model": "m", "messages": []}}, 400, None),
        ({"path": "/v1/embeddings", "payload": {"model": "m", "input": 3}}, 400, None),
        ({"path": "/v1/completions", "payload": {"model": "m"}}, 400, None),
        (
            {"path": "/v1/nothing", "payload": {}},
            404,
            {
                "message": "Unknown request URL: POST /v1/nothing.",
                "type": "invalid_request_error",
                "param": None,
                "code": "unknown_url",
            },
        ),
        ({"path": "/v1/models", "payload": {}}, 405, None),
    ],
)
def test_bad_requests_get_openai_shaped_errors(
    kwargs: dict[str, Any], status: int, error: Any
) -> None:
    reply = ask(kwargs.pop("path"), kwargs.pop("payload", None), **kwargs)
    assert reply.status == status
    body = json.loads(reply.body)
    assert set(body["error"]) == {"message", "type", "param", "code"}
    if error is not None:
        assert body == {"error": error}


def test_require_key_answers_401_invalid_api_key_unless_the_bearer_matches() -> None:
    good = ask("/v1/models", method="GET", raw=b"", authorization="Bearer sk-1", require_key="sk-1")
    assert good.status == 200
    for authorization in (None, "Bearer sk-2", "sk-1"):
        bad = ask(
            "/v1/models", method="GET", raw=b"", authorization=authorization, require_key="sk-1"
        )
        assert bad.status == 401
        assert json.loads(bad.body)["error"]["code"] == "invalid_api_key"


def test_ids_are_the_five_regions_then_numbered() -> None:
    assert upstream_ids(7) == [
        "ap-northeast",
        "ap-southeast",
        "us-west",
        "us-east",
        "eu-central",
        "upstream-6",
        "upstream-7",
    ]
    with pytest.raises(ValueError):
        upstream_ids(0)


def test_default_specs_apply_faults_and_models_by_id_and_reject_unknown_ids() -> None:
    specs = default_specs(
        3, faults={"us-west": "status:503", "*": "delay:1"}, models={"ap-northeast": ["a"]}
    )
    assert [(s.id, s.fault, s.models) for s in specs] == [
        ("ap-northeast", "delay:1", ("a",)),
        ("ap-southeast", "delay:1", DEFAULT_MODELS),
        ("us-west", "status:503", DEFAULT_MODELS),
    ]
    with pytest.raises(ValueError, match="unknown upstream id 'eu-central'"):
        default_specs(2, faults={"eu-central": "ok"})


def test_seed_profile_uses_the_tutorial_ranges_and_is_reproducible() -> None:
    us_east, other = UpstreamSpec("us-east"), UpstreamSpec("upstream-6")
    assert latency_range_ms(us_east, "seed") == (40.0, 70.0)
    assert latency_range_ms(other, "seed") == (50.0, 90.0)
    assert latency_range_ms(us_east, "fast") is None

    def waits(seed: int) -> list[float]:
        runtime = UpstreamRuntime(
            us_east, latency_ms=(40.0, 70.0), seed=seed, log_size=4, created=0
        )
        return [runtime.wait_s(None) for _ in range(50)]

    first = waits(0)
    assert all(0.040 <= w <= 0.070 for w in first)
    assert waits(0) == first and waits(1) != first
    assert random.Random(0).random() != first[0]  # seeded per upstream, not the global stream


def test_config_keeps_default_weights_and_drops_fallbacks_to_missing_ids() -> None:
    data = config_dict(
        [
            ("ap-northeast", "http://127.0.0.1:1/v1"),
            ("us-west", "http://127.0.0.1:2/v1"),
            ("upstream-6", "http://127.0.0.1:6/v1"),
        ]
    )
    assert data["home"] == {"local": "ap-northeast"}
    assert [(u["id"], u["weight"], u["fallbacks"]) for u in data["upstreams"]] == [
        ("ap-northeast", 10, ["us-west"]),
        ("us-west", 5, []),
        ("upstream-6", 1, []),
    ]


def test_written_config_passes_the_router_loader(tmp_path: Path) -> None:
    path = tmp_path / "router.yaml"
    urls = [(i, f"http://127.0.0.1:{9001 + n}/v1") for n, i in enumerate(upstream_ids(6))]
    write_config(path, urls)
    config = load_config(path, environ={})
    assert [(u.id, u.base_url) for u in config.upstreams] == urls
    assert config.upstreams[3].fallbacks == ("us-west", "eu-central")
    assert config.home == {"local": "ap-northeast"}
    assert config.home_upstream == "ap-northeast"
