"""Driving the Lambda handlers as Lambda does: synchronously, one event at a time.

A Lambda handler runs its own event loop (`run_until_complete`), so the simulated upstreams
cannot share the test's thread: `SimThread` runs a `Simulator` on a loop in a background thread
and offers blocking helpers. Events come from `events/*.json`; `FakeContext` stands in for the
Lambda context object. `Lambdas` builds router and checker handlers on config files written
from a `SimThread`'s upstreams, and closes them all (`tests/integration/conftest.py` has the
fixtures).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import importlib
import itertools
import json
import logging
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
import yaml

from edge_router.clock import Clock
from edge_router.runtime.health_checker import HealthChecker, build_health_checker
from edge_router.runtime.lambda_buffered import RouterHandler, build_router_handler
from edge_router.simulator import Simulator, default_specs
from tests.integration.router_harness import sim_config
from tests.support import moto_dynamodb
from tests.support.cfn import REPO
from tests.support.tcp_proxy import CountingProxy

T = TypeVar("T")
EVENTS = REPO / "events"
HOME = "ap-northeast"  # the home upstream of the tests' regions; fallbacks: ap-southeast, us-west


@dataclass
class FakeContext:
    """The attributes of the Lambda context object that Mangum and Powertools read."""

    function_name: str = "edge-router-test-RouterFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def event(name: str, **changes: Any) -> dict[str, Any]:
    """A copy of `events/<name>.json`, with top-level keys replaced."""
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data.update(changes)
    return data


@dataclass
class Answer:
    """A Mangum (API Gateway v2) response, decoded."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def invoke(handler: Any, name: str, **changes: Any) -> Answer:
    response = handler(event(name, **changes), FakeContext())
    body = response.get("body") or ""
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): v for k, v in response["headers"].items()}
    return Answer(response["statusCode"], headers, raw)


class SimThread:
    """A `Simulator` (and optional counting proxies) on an event loop in a background thread."""

    def __init__(self, count: int = 3, *, faults: Mapping[str, str] | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._specs = default_specs(count, faults=faults)
        self.sim: Simulator
        self.proxies: dict[str, CountingProxy] = {}

    def call(self, awaitable: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout=10)

    def __enter__(self) -> SimThread:
        self._thread.start()
        self.sim = Simulator(self._specs, profile="fast")
        self.call(self.sim.start())
        return self

    def __exit__(self, *exc: object) -> None:
        for proxy in self.proxies.values():
            self.call(proxy.close())
        self.call(self.sim.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()

    @property
    def ids(self) -> list[str]:
        return self.sim.ids

    def set_fault(self, upstream_id: str, spec: str) -> None:
        self.call(self.sim.set_fault(upstream_id, spec))

    def requests(self, upstream_id: str, path: str = "/v1/chat/completions") -> int:
        return int(self.sim.state(upstream_id)["by_path"].get(path, 0))

    def proxy(self, upstream_id: str) -> CountingProxy:
        """A counting proxy in front of one upstream (created on first use)."""
        if upstream_id not in self.proxies:
            proxy = CountingProxy("127.0.0.1", self.sim.port(upstream_id))
            self.proxies[upstream_id] = self.call(proxy.start())
        return self.proxies[upstream_id]

    def config(self, *, proxied: tuple[str, ...] = (), **sections: Any) -> dict[str, Any]:
        """A router config for these upstreams (fast timeouts); `proxied` ids go through a
        `CountingProxy`."""
        raw = sim_config(self.sim, **sections)
        for upstream in raw["upstreams"]:
            if upstream["id"] in proxied:
                upstream["base_url"] = f"http://127.0.0.1:{self.proxy(upstream['id']).port}/v1"
        return raw


def write_config(path: Path, raw: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(raw), sort_keys=False), encoding="utf-8")
    return path


def router_environ(
    config_path: Path,
    *,
    region: str,
    health_table: str | None = None,
    health_table_region: str = moto_dynamodb.REGION,
    **extra: str,
) -> dict[str, str]:
    """What the template sets for the router function; with `health_table`, the health store is
    that DynamoDB table, read and written at its `health_table_region` replica."""
    environ = {
        "EDGE_ROUTER_CONFIG": str(config_path),
        "AWS_REGION": region,
        "POWERTOOLS_SERVICE_NAME": "edge-router",
        "POWERTOOLS_METRICS_NAMESPACE": "EdgeRouter",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    if health_table is not None:
        environ.update(
            EDGE_ROUTER_HEALTH_STORE="dynamodb",
            EDGE_ROUTER_HEALTH_TABLE=health_table,
            EDGE_ROUTER_HEALTH_TABLE_REGION=health_table_region,
        )
    environ.update(extra)
    return environ


class Lambdas:
    """The handlers of one test: each on its own config file for `sim`'s upstreams, all closed
    by `close()`."""

    def __init__(self, tmp_path: Path, sim: SimThread) -> None:
        self.tmp_path, self.sim = tmp_path, sim
        self.built: list[RouterHandler | HealthChecker] = []
        self._files = itertools.count()

    def environ(
        self,
        region: str,
        *,
        home: Mapping[str, str] | None = None,
        proxied: tuple[str, ...] = (),
        health_table: str | None = None,
        env: Mapping[str, str] | None = None,
        **sections: Any,
    ) -> dict[str, str]:
        """A function's environment in `region`, with a config (`sections` merged in) that sends
        `home` (default: `region` to HOME) first; `proxied` and `health_table` as in
        `SimThread.config` and `router_environ`; `env` adds variables."""
        raw = self.sim.config(proxied=proxied, home=home or {region: HOME}, **sections)
        path = write_config(self.tmp_path / f"{region}-{next(self._files)}.yaml", raw)
        return router_environ(path, region=region, health_table=health_table, **(env or {}))

    def router(
        self,
        environ: Mapping[str, str],
        *,
        clock: Clock | None = None,
        on_store_call: Callable[[str], None] | None = None,
    ) -> RouterHandler:
        handler = build_router_handler(environ, clock=clock, on_store_call=on_store_call)
        self.built.append(handler)
        return handler

    def checker(
        self,
        environ: Mapping[str, str],
        *,
        clock: Clock | None = None,
        on_store_call: Callable[[str], None] | None = None,
        upstream_key: Callable[[str], str | None] | None = None,
    ) -> HealthChecker:
        checker = build_health_checker(
            environ, clock=clock, on_store_call=on_store_call, upstream_key=upstream_key
        )
        self.built.append(checker)
        return checker

    def close(self) -> None:
        for built in self.built:
            built.close()


@contextmanager
def cold_start(
    module_name: str, environ: Mapping[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    """Import a handler module as a Lambda cold start does: afresh, with `environ` set. Its
    `handler` is closed and the module forgotten afterwards."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, module_name, raising=False)
    with library_logging_restored():
        module = importlib.import_module(module_name)
        try:
            yield module
        finally:
            module.handler.close()
            del sys.modules[module_name]


def _all_handlers() -> list[logging.Handler]:
    loggers = [logging.getLogger(), *(
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    )]
    return [h for lg in loggers for h in lg.handlers]


@contextmanager
def library_logging_restored() -> Iterator[None]:
    """Building a handler configures process-wide logging, as it should in a container: the
    Powertools logger (`edge-router`, configured once, with the stdout of the moment), the
    library's logger (`edge_router`, routed through it, propagate=False) and log redaction (a
    record factory, and every handler's `format` wrapped). Undo all of it afterwards, so the
    next test's handler logs to that test's stdout and other tests' logging is untouched."""
    loggers = [logging.getLogger(name) for name in ("edge-router", "edge_router")]
    saved = [(dict(lg.__dict__), list(lg.handlers), list(lg.filters)) for lg in loggers]
    factory = logging.getLogRecordFactory()
    plain = [h for h in _all_handlers() if "format" not in vars(h)]
    try:
        yield
    finally:
        for lg, (state, handlers, filters) in zip(loggers, saved, strict=True):
            lg.__dict__.clear()
            lg.__dict__.update(state)
            lg.handlers, lg.filters = handlers, filters
            lg.setLevel(lg.level)  # drops the level cache of its children
        logging.setLogRecordFactory(factory)
        for handler in plain:
            vars(handler).pop("format", None)
            vars(handler).pop("_edge_redacting", None)


def emf_documents(text: str) -> list[dict[str, Any]]:
    """The EMF documents among stdout lines (log lines are JSON too, but without `_aws`)."""
    docs = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            doc = json.loads(line)
            if "CloudWatchMetrics" in doc.get("_aws", {}):
                docs.append(doc)
    return docs
