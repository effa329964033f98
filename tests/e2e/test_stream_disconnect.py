"""A client that leaves mid-stream makes the router close the upstream connection within a
second (SPEC §11: tokens cost money), even when the upstream writes as fast as it can: under
`edge-router serve` and under `functions/router/run.sh` (the Lambda stream mode's server)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.procs import free_ports, start_router
from tests.support.run_sh import RunSh, lambda_environ, template_environment
from tests.support.token_upstream import TokenUpstream

pytestmark = pytest.mark.e2e

BODY = json.dumps({"model": "gpt-4.1", "stream": True,
                   "messages": [{"role": "user", "content": "hi"}]}).encode()


def _request(port: int) -> bytes:
    return (b"POST /v1/chat/completions HTTP/1.1\r\nhost: router\r\n"
            b"authorization: Bearer sk-test\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % len(BODY)) + BODY


@pytest.fixture(params=["serve", "run.sh"])
def router_port(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[int, TokenUpstream]]:
    with TokenUpstream(None, chunk_bytes=4000) as upstream:
        config = {"upstreams": [{"id": "tokens", "base_url": upstream.base_url}]}
        if request.param == "serve":
            router = start_router(tmp_path, config)
            try:
                yield router.port, upstream
            finally:
                router.stop()
            return
        path = tmp_path / "edge-router.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        template_env = template_environment({
            "ConfigPath": str(path), "HealthTableName": "unused", "HealthTableRegion": "",
            "AuthMode": "passthrough", "UpstreamSecretArn": "",
        })  # fmt: skip
        template_env["EDGE_ROUTER_HEALTH_STORE"] = "memory"
        run_sh = RunSh(lambda_environ(template_env, port=free_ports(1)[0], region="us-east-1"))
        try:
            run_sh.wait_ready()
            yield run_sh.port, upstream
        finally:
            run_sh.stop()


def test_a_client_leaving_a_fast_stream_closes_the_upstream_within_a_second(
    router_port: tuple[int, TokenUpstream],
) -> None:
    port, upstream = router_port
    for trial in range(3):
        # GIVEN a stream the upstream writes as fast as the sockets take it
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(_request(port))
            head = client.recv(65536)
            assert head.startswith(b"HTTP/1.1 200"), head[:200]
            while b"data: " not in head:
                head += client.recv(65536)
            # WHEN the client goes away after its first bytes
            left = time.monotonic()
        served = upstream.served[-1]
        # THEN the upstream sees its connection closed within a second
        assert served.done.wait(10), f"trial {trial}: the upstream is still writing"
        assert served.closed is not None, f"trial {trial}: the stream ran to its end"
        assert served.closed - left < 1.0, (trial, served.closed - left, served.chunks)
    assert len(upstream.served) == 3
