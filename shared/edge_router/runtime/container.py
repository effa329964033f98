"""What every way of running the app in a Lambda container shares, built once per container:
the config (file + §8 environment overrides), the clock, the DynamoDB client, the health store
the config names, the EMF metrics sink and the Powertools logger (`open_container`), and, for the
handlers that drive asyncio themselves (Mangum, the health checker), one event loop.

The DynamoDB client is built once and shared by the health store and, in keys mode, the
router-key lookups (building a botocore client is most of a cold start's own work).

The event loop. Mangum 0.22 runs every invocation with
`asyncio.get_event_loop().run_until_complete(...)`: whatever loop is *current* in the thread
when the invocation starts. Nothing keeps that loop the same across invocations (anything that
calls `asyncio.run()`, or `set_event_loop`, in between replaces or unsets it; Python 3.14 no
longer creates one on demand), and the aiohttp session of `UpstreamClient` is rebuilt, with a
new connection pool, whenever the running loop changes. So a handler owns one `ContainerLoop`
for the container's life and makes it current before each invocation: the upstream pool, the
health store's pending futures and background writes all live on one loop, and warm
invocations reuse upstream connections.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from ..clock import Clock, SystemClock
from ..config import Config, env, load_config
from ..config.env import SERVICE_NAME
from ..health.dynamodb import DynamoHealthStore, build_client
from ..health.memory import MemoryHealthStore
from ..health.store import HealthStore, HealthStoreError
from ..redaction import install_log_redaction
from . import snapstart
from .emf import EmfMetrics

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The library's root logger: its records go out through the Powertools handler.
LIBRARY_LOGGER = "edge_router"

#: Loop turns taken before an invocation's request runs: enough for a peer's FIN that arrived
#: while the container was frozen to be read and the pooled connection marked closed.
SETTLE_TURNS = 2


async def settle() -> None:
    """Let I/O that arrived while the container was frozen be processed before a request runs.

    An upstream that closed an idle keep-alive connection in the meantime is then seen as such,
    and the connector opens a new connection instead of sending the request on a dead one (a
    POST is never retried by aiohttp: it would cost a failed attempt, a failover and a breaker
    failure)."""
    for _ in range(SETTLE_TURNS):
        await asyncio.sleep(0)


class ContainerLoop:
    """One asyncio event loop for the life of a Lambda container."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop or asyncio.new_event_loop()

    def activate(self) -> asyncio.AbstractEventLoop:
        """Make this loop the thread's current one (Mangum runs on the current loop)."""
        asyncio.set_event_loop(self.loop)
        return self.loop

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run `awaitable` to completion on this loop, from synchronous code."""
        return self.activate().run_until_complete(awaitable)

    def close(self) -> None:
        """Close the loop (tests and benchmarks; a container's loop lives as long as it does)."""
        if self.loop.is_closed():
            return
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()
        asyncio.set_event_loop(None)


def dynamodb_client(config: Config, environ: Mapping[str, str]) -> DynamoDBClient | None:
    """The container's one DynamoDB client (health store, and key lookups in keys mode), for
    the replica `health.table_region` names, else `AWS_REGION`; None with the memory store, or
    when it cannot be built (the store is advisory: the container then runs on memory)."""
    if config.health.store != "dynamodb":
        return None
    try:
        # The AWS SDK's own variables (credentials, endpoint URLs) are the process's, where
        # botocore reads them too; `environ` holds the router's. Under a SnapStart init the
        # small client is never used: credentials read now would be in the snapshot, stale
        # after a restore (Lambda gives SnapStart container credentials, botocore renews them).
        light = None if snapstart.snapshot_init(environ) else os.environ
        return build_client(region_name=config.health.table_region or
                            environ.get(env.AWS_REGION) or None, environ=light)
    except HealthStoreError as exc:
        log.error("health store unavailable, using memory: %s", exc)
        return None


def build_store(
    config: Config,
    *,
    client: DynamoDBClient | None,
    wall: Callable[[], float],
    on_call: Callable[[str], None] | None = None,
) -> HealthStore:
    """The DynamoDB store over `client`, or the memory store when there is none."""
    if client is None:
        return MemoryHealthStore(config.region, wall=wall)
    return DynamoHealthStore(
        config.region, table=config.health.table, client=client, wall=wall, on_call=on_call
    )


def build_logger(*, level: str | None = None) -> Logger:
    """The Powertools JSON logger (service `edge-router`); the library's own loggers
    (`edge_router.*`) are routed through it so every line carries the correlation id, and every
    log record is redacted (`redaction.install_log_redaction`)."""
    logger = Logger(service=SERVICE_NAME, level=level)
    logging.getLogger(LIBRARY_LOGGER)  # register it, so the copy below finds it
    copy_config_to_registered_loggers(source_logger=logger, include={LIBRARY_LOGGER})
    install_log_redaction()  # SPEC §7: no key or Authorization value in any log line
    return logger


@dataclass(frozen=True, slots=True)
class Container:
    """What one Lambda container builds once, whichever handler it runs."""

    config: Config
    clock: Clock
    client: DynamoDBClient | None
    store: HealthStore
    metrics: EmfMetrics
    logger: Logger


def open_container(
    environ: Mapping[str, str],
    *,
    clock: Clock | None = None,
    on_store_call: Callable[[str], None] | None = None,
    write_metrics: Callable[[str], object] | None = None,
) -> Container:
    """Read the config once (SPEC §8: `EDGE_ROUTER_CONFIG` and the environment overrides; a
    `ConfigError` names the key) and build the container's shared pieces. Hooks for tests:
    `clock`, `on_store_call` (counts the health store's DynamoDB calls), `write_metrics`
    (receives EMF lines; default stdout). Makes no network call."""
    config = load_config(environ=environ)
    clock = clock or SystemClock()
    client = dynamodb_client(config, environ)
    return Container(
        config=config,
        clock=clock,
        client=client,
        store=build_store(config, client=client, wall=clock.wall, on_call=on_store_call),
        metrics=EmfMetrics(config.region, wall=clock.wall, write=write_metrics),
        logger=build_logger(),
    )
