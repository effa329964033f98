"""Hostile input against a real `edge-router serve` (passthrough mode, simulated upstreams):
malformed JSON, wrong types, caps, deep nesting, unicode, huge headers, header injection and the
header allow-list. Nothing may crash the router (no 5xx), reach an upstream when it should not,
or carry a client header upstream that SPEC §7 does not allow."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from .procs import RouterProcess, SimProcess, start_router
from .security_support import UPSTREAM_HEADER_NAMES, RawResponse, raw_request, sim_requests

pytestmark = pytest.mark.e2e

CHAT = b'{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}'
LIMITS = {"max_n": 4, "max_tokens": 1000, "max_messages": 50}


@pytest.fixture(scope="module")
def hostile_router(
    sim: SimProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RouterProcess]:
    config = {**sim.config, "limits": LIMITS,
              "routing": {"connect_timeout_s": 0.5, "first_byte_timeout_s": 1.0}}
    router = start_router(tmp_path_factory.mktemp("hostile"), config)
    yield router
    router.stop()


@pytest.fixture(autouse=True)
def _reset(sim: SimProcess) -> None:
    sim.reset()


def post(router: RouterProcess, body: bytes, *, headers: bytes = b"",
         path: bytes = b"/v1/chat/completions") -> RawResponse:
    request = (
        b"POST " + path + b" HTTP/1.1\r\nHost: router\r\nAuthorization: Bearer sk-client\r\n"
        b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n"
        + headers + b"Connection: close\r\n\r\n" + body
    )
    response = raw_request(router.port, request)
    assert response is not None, "the router closed the connection without an answer"
    return response


def error(response: RawResponse) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = json.loads(response.body)["error"]
    return body


def upstream_calls(sim: SimProcess) -> int:
    return sum(sim.counts().values())


@pytest.mark.parametrize("body", [
    b"", b"{", b"null", b"[]", b'"text"', b"{'model': 'gpt-4.1'}", CHAT + b" trailing",
    b'{"model":"gpt-4.1","messages":[],"temperature":NaN}', b"\xef\xbb\xbf" + CHAT,
    b'{"model":"gpt-4.1","messages":[{"role":"user","content":"\xff\xfe"}]}',
    b'{"model":"gpt-4.1","messages":[{"role":"user","content":"\\ud800"}]}',
    b'{"model":"gpt-4.1","messages":[{"role":"user","content":"x"}],"x":'
    + b"[" * 100_000 + b"]" * 100_000 + b"}",
], ids=lambda b: repr(b[:24]))
def test_malformed_json_is_400_invalid_json(
    hostile_router: RouterProcess, sim: SimProcess, body: bytes
) -> None:
    response = post(hostile_router, body)
    assert response.status == 400
    assert error(response)["code"] == "invalid_json"
    assert upstream_calls(sim) == 0


@pytest.mark.parametrize(("fields", "code", "param"), [
    ({"model": 5}, "invalid_field", "model"),
    ({"model": "  "}, "invalid_field", "model"),
    ({"model": None}, "missing_field", "model"),
    ({"messages": "hi"}, "invalid_field", "messages"),
    ({"messages": []}, "invalid_field", "messages"),
    ({"messages": None}, "missing_field", "messages"),
    ({"stream": "yes"}, "invalid_field", "stream"),
    ({"stream": 1}, "invalid_field", "stream"),
    ({"n": "2"}, "invalid_field", "n"),
    ({"n": True}, "invalid_field", "n"),
    ({"n": 10**23}, "invalid_field", "n"),  # beyond 64 bits: orjson reads it as a float
    ({"max_tokens": 1.5}, "invalid_field", "max_tokens"),
    ({"max_tokens": -1}, "invalid_field", "max_tokens"),
    ({"n": 5}, "invalid_field", "n"),  # over limits.max_n
    ({"max_tokens": 1001}, "invalid_field", "max_tokens"),
    ({"max_completion_tokens": 1001}, "invalid_field", "max_completion_tokens"),
    ({"messages": [{"role": "user", "content": "x"}] * 51}, "invalid_field", "messages"),
])
def test_wrong_types_and_caps_are_400_before_any_upstream_call(
    hostile_router: RouterProcess, sim: SimProcess, fields: dict[str, Any], code: str, param: str
) -> None:
    body = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}], **fields}
    response = post(hostile_router, json.dumps(body).encode())
    assert response.status == 400
    assert error(response) == {**error(response), "type": "invalid_request_error",
                               "code": code, "param": param}
    assert upstream_calls(sim) == 0


@pytest.mark.parametrize("body", [
    b'{"model":"gpt-4.1","messages":[{"role":"user","content":"x"}],"nested":'
    + b"[" * 500 + b"]" * 500 + b"}",
    '{"model":"模型-🚀","messages":[{"role":"user","content":"héllo \u202e\u200b 🚀 مرحبا"}],'
    '"user":"\\u0000"}'.encode(),
    b'{"model":"gpt-4.1","messages":[{"role":"user","content":"x"}],"unknown":{"k":[1,2.50,true]}}',
], ids=["nested-500", "unicode", "unknown-fields"])
def test_valid_oddities_go_upstream_byte_for_byte(
    hostile_router: RouterProcess, sim: SimProcess, body: bytes
) -> None:
    response = post(hostile_router, body)
    assert response.status == 200
    (seen,) = sim_requests(sim, "ap-northeast")
    assert base64.b64decode(seen["body_base64"]) == body


def test_unicode_and_junk_in_the_path_is_a_json_404(hostile_router: RouterProcess) -> None:
    response = post(hostile_router, CHAT, path=b"/v1/ch%C3%A4t/%F0%9F%9A%80%00%ff/../x")
    assert response.status == 404
    assert error(response)["code"] == "not_found"


@pytest.mark.parametrize("headers", [
    b"User-Agent: " + b"a" * 9000 + b"\r\n",
    b"Authorization-Extra: x\r\nOpenAI-Beta: " + b"b" * 9000 + b"\r\n",
    b"X-Big: " + b"a" * 1_000_000 + b"\r\n",
    b"".join(b"X-H%d: value\r\n" % i for i in range(5000)),
], ids=["long-user-agent", "long-openai-beta", "1MB-header", "5000-headers"])
def test_huge_headers_are_431_without_an_upstream_call(
    hostile_router: RouterProcess, sim: SimProcess, headers: bytes
) -> None:
    response = post(hostile_router, CHAT, headers=headers)
    assert response.status == 431
    assert error(response)["code"] == "request_headers_too_large"
    assert upstream_calls(sim) == 0
    assert post(hostile_router, CHAT).status == 200  # and the router is fine


def test_long_passthrough_authorization_is_431(
    hostile_router: RouterProcess, sim: SimProcess
) -> None:
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer "
               + b"k" * 9000 + b"\r\nContent-Length: " + str(len(CHAT)).encode()
               + b"\r\nConnection: close\r\n\r\n" + CHAT)
    response = raw_request(hostile_router.port, request)
    assert response is not None and response.status == 431
    assert upstream_calls(sim) == 0


@pytest.mark.parametrize("value", [
    b"abc\rX-Injected: 1", b"abc\nX-Injected: 1", b"abc\r\n continued", b"a\x00b", b"a\x0bb",
])
def test_control_characters_in_headers_never_reach_the_app(
    hostile_router: RouterProcess, sim: SimProcess, value: bytes
) -> None:
    response = post(hostile_router, CHAT, headers=b"X-Request-ID: " + value + b"\r\n")
    # uvicorn's parser refuses the request before the app sees it (its plain-text 400)
    assert response.status == 400
    assert upstream_calls(sim) == 0
    assert post(hostile_router, CHAT).status == 200


@pytest.mark.parametrize("value", [
    "caf\u00e9".encode("latin-1"), b"a" * 129, b"has space", b"semi;colon", b"",
    b"abc\r\nX-Injected: 1",  # CRLF ends the header: a valid id and a second header
])
def test_request_id_is_replaced_unless_safe_and_the_same_goes_upstream(
    hostile_router: RouterProcess, sim: SimProcess, value: bytes
) -> None:
    response = post(hostile_router, CHAT, headers=b"X-Request-ID: " + value + b"\r\n")
    assert response.status == 200
    request_id = response.headers["x-request-id"]
    if value.startswith(b"abc\r\n"):
        assert request_id == "abc"
    else:
        assert request_id.startswith("req_") and len(request_id) == 28
    (seen,) = sim_requests(sim, "ap-northeast")
    assert {k.lower(): v for k, v in seen["headers"].items()}["x-request-id"] == request_id
    assert "x-injected" not in {k.lower() for k in seen["headers"]}


def test_only_allow_listed_headers_go_upstream(
    hostile_router: RouterProcess, sim: SimProcess
) -> None:
    hostile = (
        b"Cookie: session=stolen\r\nX-Forwarded-For: 10.0.0.1\r\nForwarded: for=10.0.0.1\r\n"
        b"X-Real-IP: 10.0.0.1\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n"
        b"X-Api-Key: sk-elsewhere\r\nX-Amz-Security-Token: token\r\nTE: trailers\r\n"
        b"Upgrade: websocket\r\nKeep-Alive: timeout=5\r\nX-Custom: 1\r\nVia: 1.1 proxy\r\n"
        b"OpenAI-Organization: org-1\r\nOpenAI-Beta: assistants=v2\r\nUser-Agent: ua/1\r\n"
    )
    response = post(hostile_router, CHAT, headers=hostile)
    assert response.status == 200
    (seen,) = sim_requests(sim, "ap-northeast")
    received = {k.lower(): v for k, v in seen["headers"].items()}
    assert set(received) <= UPSTREAM_HEADER_NAMES
    assert received["host"] == f"127.0.0.1:{sim.ports[0]}"  # never the client's Host
    assert received["openai-organization"] == "org-1"
    assert received["user-agent"] == "ua/1"
    assert received["authorization"] == "Bearer sk-client"  # passthrough mode


def test_body_over_the_limit_is_413_before_it_is_read(
    hostile_router: RouterProcess, sim: SimProcess
) -> None:
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer k\r\n"
               b"Content-Length: 7000000\r\nConnection: close\r\n\r\n" + CHAT)
    response = raw_request(hostile_router.port, request)
    assert response is not None and response.status == 413
    assert error(response)["code"] == "request_too_large"
    chunked = 7_000_000
    body = b"%x\r\n" % chunked + b"a" * chunked + b"\r\n0\r\n\r\n"
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer k\r\n"
               b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body)
    response = raw_request(hostile_router.port, request)
    assert response is not None and response.status == 413
    assert upstream_calls(sim) == 0


