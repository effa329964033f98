"""Property-based fuzzing of the router's own OpenAPI description (schemathesis): every
operation in `/openapi.json`, with valid and invalid requests, against a real `edge-router
serve` in each auth mode over healthy simulated upstreams. No request may get a 5xx."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from .procs import RouterProcess, SimProcess, start_router
from .security_support import UPSTREAM_KEY, UPSTREAM_KEY_ENV, create_key

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 150  # over every operation together


@dataclass
class Target:
    router: RouterProcess
    headers: dict[str, str]


@pytest.fixture(scope="module", params=["passthrough", "keys"])
def target(
    request: pytest.FixtureRequest, sim: SimProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    tmp = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    config = {**sim.config, "limits": {"max_n": 8, "max_tokens": 4096, "max_messages": 100},
              "routing": {"connect_timeout_s": 0.5, "first_byte_timeout_s": 2.0}}
    env = {}
    token = "sk-fuzz-client"
    if request.param == "keys":
        config["upstreams"] = [{**u, "api_key_env": UPSTREAM_KEY_ENV} for u in config["upstreams"]]
        config["auth"] = {"mode": "keys", "keys_file": "keys.json"}
        (tmp / "router.yaml").write_text("auth: {mode: keys, keys_file: keys.json}\n")
        token = create_key("fuzz", config=tmp / "router.yaml")
        env = {UPSTREAM_KEY_ENV: UPSTREAM_KEY}
    router = start_router(tmp, config, env=env)
    yield Target(router, {"authorization": f"Bearer {token}"})
    router.stop()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["valid", "invalid"])
def test_no_server_error(target: Target, mode: GenerationMode) -> None:
    # GIVEN the router's own OpenAPI description
    schema = schemathesis.openapi.from_url(target.router.url + "/openapi.json")
    answers: Counter[tuple[str, int]] = Counter()

    # WHEN schemathesis generates requests for every operation
    @given(case=schema.as_strategy(mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case: schemathesis.Case[Any]) -> None:
        headers = {**target.headers, **dict(case.headers or {})}
        # THEN none gets a server error
        response = case.call_and_validate(headers=headers, checks=[not_a_server_error],
                                          timeout=10)
        answers[(case.operation.label, response.status_code)] += 1

    call()
    # and the run was worth something: valid requests reached the upstreams, invalid ones the
    # router's own checks (an invalid case answered 200 is possible, e.g. an unknown field that
    # passes through, but not owed: requiring one made this test fail at random)
    statuses = {status for _, status in answers}
    if mode is GenerationMode.POSITIVE:
        assert 200 in statuses
    else:
        assert statuses & {400, 401, 404, 405, 422}
