"""The uvicorn options `serve` and the Lambda stream mode run with (SPEC §3): the limited
httptools protocol, and `X-Forwarded-*` believed only from the addresses the operator names."""

from __future__ import annotations

import uvicorn
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from edge_router.config.model import Limits
from edge_router.runtime.http_limits import LimitedHttpToolsProtocol, error_bytes, server_options


async def app(scope: object, receive: object, send: object) -> None:  # a bare ASGI app
    raise AssertionError("not called")


def loaded(limits: Limits) -> uvicorn.Config:
    config = uvicorn.Config(app, loop="asyncio", lifespan="off", **server_options(limits))
    config.load()
    return config


def test_forwarded_headers_are_not_believed_from_loopback_by_default() -> None:
    config = loaded(Limits())
    assert not isinstance(config.loaded_app, ProxyHeadersMiddleware)  # uvicorn's default would


def test_forwarded_headers_are_believed_from_the_named_addresses_only() -> None:
    config = loaded(Limits(forwarded_allow_ips=("10.0.0.7",)))
    assert isinstance(config.loaded_app, ProxyHeadersMiddleware)
    assert config.forwarded_allow_ips == ["10.0.0.7"]


def test_the_protocol_carries_the_configured_limits() -> None:
    limits = Limits(max_header_bytes=4096, header_timeout_s=2.5, body_idle_timeout_s=7.0,
                    max_connections=12)
    protocol = loaded(limits).http_protocol_class
    assert issubclass(protocol, LimitedHttpToolsProtocol)
    assert (protocol.max_header_bytes, protocol.header_timeout_s, protocol.body_idle_timeout_s,
            protocol.max_connections) == (4096, 2.5, 7.0, 12)


def test_refusals_are_whole_responses_in_openai_shape() -> None:
    raw = error_bytes(431, "too large", "request_headers_too_large")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"connection: close" in head and b"content-length: %d" % len(body) in head
    assert body == (b'{"error":{"message":"too large","type":"invalid_request_error",'
                    b'"param":null,"code":"request_headers_too_large"}}')
