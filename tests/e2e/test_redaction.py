"""No key in anything the router writes or answers (SPEC §7): real `serve` processes with debug
logging and access logs, keys in every request (router keys good, limited, revoked and made up;
the upstream key, right and wrong; keys in paths, query strings and stray headers), then a grep
of each router's whole output, every answer body and `/status` for every one of those keys."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .procs import SimProcess, start_simulator
from .security_support import (
    UPSTREAM_KEY,
    UPSTREAM_KEY_ENV,
    create_key,
    keys_cli,
    keys_config,
    start_logged_router,
)

pytestmark = pytest.mark.e2e

WRONG_UPSTREAM_KEY = "hs-live-ffffeeeeddddccccbbbb"
MADE_UP_ROUTER_KEY = "sk-edge-" + "Z" * 43
NOT_A_KEY = "hostile-client-token-55aa66bb77cc"
CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}
DEBUG = ["--log-level", "debug", "--access-log"]


@pytest.fixture(scope="module")
def keyed_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    process = start_simulator(tmp_path_factory.mktemp("redaction-sim"), 2,
                              "--require-key", UPSTREAM_KEY)
    yield process
    process.stop()


class Client:
    """Sends requests and keeps every answer body, for the grep."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.bodies: list[str] = []

    def send(self, method: str, path: str, *, token: str | None = None, body: object = None,
             headers: dict[str, str] | None = None) -> int:
        all_headers = {"content-type": "application/json", **(headers or {})}
        if token is not None:
            all_headers["authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                self.bodies.append(response.read().decode("utf-8", "replace"))
                return int(response.status)
        except urllib.error.HTTPError as exc:
            self.bodies.append(exc.read().decode("utf-8", "replace"))
            return int(exc.code)


def test_no_key_in_logs_answers_or_status(keyed_sim: SimProcess, tmp_path: Path) -> None:
    # GIVEN a keys-mode router, a passthrough router and a router holding a wrong upstream key,
    # all logging at debug level with access logs, and router keys of every kind
    keys_dir, pass_dir, wrong_dir = (tmp_path / d for d in ("keys", "pass", "wrong"))
    for d in (keys_dir, pass_dir, wrong_dir):
        d.mkdir()
    keys_cfg = keys_config(keyed_sim, keys_dir)
    good = create_key("good", config=keys_cfg)
    limited = create_key("limited", config=keys_cfg, models="deepseek-v3.2")
    revoked = create_key("revoked", config=keys_cfg)
    assert keys_cli("revoke", "--name", "revoked", config=keys_cfg).returncode == 0
    pass_cfg = keys_config(keyed_sim, pass_dir, auth={"mode": "passthrough"})
    wrong_cfg = keys_config(keyed_sim, wrong_dir)
    wrong_router_key = create_key("good", config=wrong_cfg)
    secrets = [good, limited, revoked, MADE_UP_ROUTER_KEY, NOT_A_KEY, UPSTREAM_KEY,
               WRONG_UPSTREAM_KEY, wrong_router_key]

    routers = [
        start_logged_router(keys_cfg, env={UPSTREAM_KEY_ENV: UPSTREAM_KEY}, args=DEBUG),
        start_logged_router(pass_cfg, args=DEBUG),
        start_logged_router(wrong_cfg, env={UPSTREAM_KEY_ENV: WRONG_UPSTREAM_KEY}, args=DEBUG),
    ]
    keyed, passthrough, wrong = (Client(r.url) for r in routers)
    outputs: list[str] = []
    try:
        # WHEN every kind of key is used, everywhere a client can put one
        assert keyed.send("POST", "/v1/chat/completions", token=good, body=CHAT) == 200
        assert keyed.send("POST", "/v1/chat/completions", token=good,
                          body={**CHAT, "stream": True}) == 200
        assert keyed.send("POST", "/v1/embeddings", token=good,
                          body={"model": "text-embedding-3-small", "input": "x"}) == 200
        assert keyed.send("GET", "/v1/models", token=good) == 200
        assert keyed.send("GET", "/status", token=good) == 200
        assert keyed.send("POST", "/v1/chat/completions", token=limited, body=CHAT) == 403
        for bad in (revoked, MADE_UP_ROUTER_KEY, NOT_A_KEY, UPSTREAM_KEY):
            assert keyed.send("POST", "/v1/chat/completions", token=bad, body=CHAT) == 401
            assert keyed.send("GET", "/status", token=bad) == 401
        assert keyed.send("POST", f"/v1/{good}", token=good, body=CHAT) == 404
        assert keyed.send("POST", f"/v1/chat/completions?api_key={good}", token=good,
                          body=CHAT) == 200
        assert keyed.send("POST", "/v1/chat/completions", token=good, body=CHAT, headers={
            "x-api-key": good, "cookie": f"session={good}", "proxy-authorization": good,
        }) == 200
        # a router error quoting the model (an upstream's answer is passed through as it is)
        assert keyed.send("POST", "/v1/chat/completions", token=limited,
                          body={**CHAT, "model": good}) == 403
        for upstream_id in keyed_sim.ids:  # failures log warnings: circuits open
            keyed_sim.set_fault(upstream_id, "status:500")
        for _ in range(4):
            assert keyed.send("POST", "/v1/chat/completions", token=good, body=CHAT) == 502
        keyed_sim.reset()
        assert keyed.send("GET", "/status", token=good) == 200

        assert passthrough.send("POST", "/v1/chat/completions", token=UPSTREAM_KEY,
                                body=CHAT) == 200
        assert passthrough.send("POST", "/v1/chat/completions", token=WRONG_UPSTREAM_KEY,
                                body=CHAT) == 401  # the upstream's own 401, passed through
        assert passthrough.send("GET", "/status") == 200

        assert wrong.send("POST", "/v1/chat/completions", token=wrong_router_key,
                          body=CHAT) == 401  # the upstream refuses the router's key
        assert wrong.send("GET", "/status", token=wrong_router_key) == 200
    finally:
        outputs = [router.stop() for router in routers]

    # THEN no key appears anywhere: not in the output, not in an answer, not in /status
    written = "\n".join(outputs + keyed.bodies + passthrough.bodies + wrong.bodies)
    leaked = [secret for secret in secrets if secret in written]
    assert leaked == []
    assert all(secret.removeprefix("sk-edge-") not in written for secret in secrets)
    # and the grep was worth something: debug logs were on, and the redactor masked real lines
    assert "DEBUG" in outputs[0] and "refused an unknown or revoked router key" in outputs[0]
    assert '"POST /v1/sk-[REDACTED] HTTP/1.1" 404' in outputs[0]
    assert "api_key=[REDACTED]" in outputs[0]
