"""Keys mode end to end: real `edge-router keys`, `serve` and `simulate --require-key` processes,
driven by the openai SDK. The simulator answers 401 unless it gets the upstream key, so a 200
proves the router used the upstream key; its request log proves the client's key stayed home."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from .procs import EDGE_ROUTER, SimProcess, http, start_simulator
from .security_support import (
    UPSTREAM_KEY,
    UPSTREAM_KEY_ENV,
    LoggedRouter,
    create_key,
    keys_cli,
    keys_config,
    sim_requests,
    start_logged_router,
)

pytestmark = pytest.mark.e2e

MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture(scope="module")
def keyed_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    process = start_simulator(tmp_path_factory.mktemp("keyed-sim"), 2,
                              "--require-key", UPSTREAM_KEY)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def config(keyed_sim: SimProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return keys_config(keyed_sim, tmp_path_factory.mktemp("keys-mode"))


@pytest.fixture(scope="module")
def router(config: Path) -> Iterator[LoggedRouter]:
    """One router for the module: keys created or revoked by the CLI reach it at once."""
    create_key("ops", config=config)  # serve refuses to start without a keys file
    process = start_logged_router(config, env={UPSTREAM_KEY_ENV: UPSTREAM_KEY})
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def _fresh_counts(keyed_sim: SimProcess) -> None:
    keyed_sim.reset()


def fresh_config(keyed_sim: SimProcess, tmp_path: Path) -> Path:
    return keys_config(keyed_sim, tmp_path)


def client(router: LoggedRouter, key: str | None) -> openai.OpenAI:
    return openai.OpenAI(base_url=router.url + "/v1", api_key=key or "", max_retries=0)


def chat(router: LoggedRouter, key: str | None, model: str = "gpt-4.1") -> str:
    completion = client(router, key).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    return completion.choices[0].message.content or ""


def test_valid_key_is_served_with_the_upstream_key(
    router: LoggedRouter, config: Path, keyed_sim: SimProcess
) -> None:
    key = create_key("alice", config=config)  # while the router runs
    assert "ap-northeast" in chat(router, key)
    stream = client(router, key).chat.completions.create(
        model="gpt-4.1", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)  # type: ignore[union-attr]
    assert "ap-northeast" in text
    seen = sim_requests(keyed_sim, "ap-northeast")
    assert [r["headers"]["Authorization"] for r in seen] == [f"Bearer {UPSTREAM_KEY}"] * 2
    assert key not in json.dumps(seen)


def post(router: LoggedRouter, key: str | None, path: str = "/v1/chat/completions") -> tuple[int, Any]:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    request = urllib.request.Request(
        router.url + path, headers=headers,
        data=json.dumps({"model": "gpt-4.1", "messages": MESSAGES}).encode(),
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def unauthorized(code: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "authentication_error", "param": None,
                      "code": code}}


INCORRECT = "Incorrect API key provided."


@pytest.mark.parametrize("kind", ["missing", "empty", "wrong", "not-a-router-key", "revoked"])
def test_bad_keys_get_401_without_an_upstream_call(
    router: LoggedRouter, config: Path, keyed_sim: SimProcess, kind: str
) -> None:
    # GIVEN a key of each kind
    key = {
        "missing": None,
        "empty": "",
        "wrong": "sk-edge-" + "A" * 43,
        "not-a-router-key": UPSTREAM_KEY,  # the upstream's own key is no router key
        "revoked": create_key(f"mallory-{kind}", config=config),
    }[kind]
    if kind == "revoked":
        assert post(router, key)[0] == 200  # works until revoked
        assert keys_cli("revoke", "--name", f"mallory-{kind}", config=config).returncode == 0
        keyed_sim.reset()
    # WHEN it is used
    status, body = post(router, key)
    # THEN 401 with the right code, and the upstream never hears of it
    assert status == 401
    if kind in ("missing", "empty"):
        assert body["error"]["code"] == "missing_api_key"
        assert body == unauthorized("missing_api_key", body["error"]["message"])
    else:
        assert body == unauthorized("invalid_api_key", INCORRECT)
    assert keyed_sim.counts() == {"ap-northeast": 0, "ap-southeast": 0}


def test_unknown_and_revoked_keys_get_the_same_answer(router: LoggedRouter, config: Path) -> None:
    revoked = create_key("gone", config=config)
    keys_cli("revoke", "--name", "gone", config=config)
    assert post(router, revoked) == post(router, "sk-edge-" + "B" * 43)


def test_model_limited_key(router: LoggedRouter, config: Path, keyed_sim: SimProcess) -> None:
    key = create_key("cheap", config=config, models="deepseek-v3.2,gemini-2.5-flash")
    assert "deepseek-v3.2" in chat(router, key, "deepseek-v3.2")
    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat(router, key, "gpt-4.1")
    assert caught.value.body["code"] == "model_not_allowed"  # type: ignore[index]
    assert caught.value.body["param"] == "model"  # type: ignore[index]
    assert keyed_sim.counts()["ap-northeast"] == 1
    listed = {m.id for m in client(router, key).models.list()}
    assert listed <= {"deepseek-v3.2", "gemini-2.5-flash"} and listed


def test_status_needs_a_router_key(router: LoggedRouter, config: Path) -> None:
    assert http("GET", router.url + "/status")[0] == 401
    key = create_key("watcher", config=config)
    request = urllib.request.Request(router.url + "/status",
                                     headers={"authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read())["upstreams"]


def test_keys_file_holds_no_plaintext_key(router: LoggedRouter, config: Path) -> None:
    keys = [create_key(f"file-{i}", config=config) for i in range(3)]
    text = (config.parent / "keys.json").read_text()
    for key in keys:
        assert key not in text and key.removeprefix("sk-edge-") not in text
    listed = keys_cli("list", config=config)
    assert listed.returncode == 0 and "file-2" in listed.stdout
    assert not any(key in listed.stdout for key in keys)


def test_missing_upstream_key_fails_the_start_naming_it(
    keyed_sim: SimProcess, tmp_path: Path
) -> None:
    config = fresh_config(keyed_sim, tmp_path)
    create_key("ops", config=config)
    done = subprocess.run([EDGE_ROUTER, "serve", "--config", str(config), "--port", "9"],
                          capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert f"{UPSTREAM_KEY_ENV} (environment): upstreams[0].api_key_env names it, but it is not set" in done.stderr


def test_missing_keys_file_fails_the_start(keyed_sim: SimProcess, tmp_path: Path) -> None:
    config = fresh_config(keyed_sim, tmp_path)
    done = subprocess.run([EDGE_ROUTER, "serve", "--config", str(config), "--port", "9"],
                          capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", UPSTREAM_KEY_ENV: UPSTREAM_KEY})
    assert done.returncode == 2
    assert "auth.keys_file:" in done.stderr and "edge-router keys create" in done.stderr
