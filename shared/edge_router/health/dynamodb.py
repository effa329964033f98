"""The DynamoDB health store (SPEC §6): the `HealthStore` port over the shared global table.

Writes are `UpdateItem`s of this region's item only (never `PutItem`); reads are one
`BatchGetItem` of the known keys (never `Scan`: the table also holds client-key hashes, §7).
Item <-> record mapping lives in `health/items.py`.

The client blocks (botocore's, or `aws/dynamodb.py`'s in a Lambda container with static
credentials: see `build_client`), so every call runs in a small thread pool owned by the store and
the event loop never waits on a socket: a caller can bound any method with `asyncio.wait_for` (the
store does not bound calls itself, nor fail open; `health/sync.py` does both). The client is built
once, with connect and read timeouts of at most 1 s and no retries (`total_max_attempts=1`), so an
abandoned call frees its thread soon. Every botocore/boto3 error (`ClientError`, `BotoCoreError`
and its subclasses, e.g. `EndpointConnectionError`, `ConnectTimeoutError`, `ReadTimeoutError`,
`NoRegionError`) becomes a `HealthStoreError`.

The endpoint comes from boto3's standard resolution, so `AWS_ENDPOINT_URL_DYNAMODB` (or
`AWS_ENDPOINT_URL`) points the store at a local moto server; `endpoint_url=` overrides it.

`on_call(operation)` is called with the DynamoDB operation name (`"UpdateItem"`,
`"BatchGetItem"`) once per API call the store makes, retries of unprocessed keys included, just
before the call is handed to its thread; tests use it to count calls per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar, cast

from botocore.exceptions import BotoCoreError, ClientError

from ..config import env
from . import items
from .records import Counters, Observation, Probe, Transition
from .store import HealthStoreError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, BatchGetItemOutputTypeDef

    from ..config.model import Health

__all__ = ["MAX_TIMEOUT_S", "DynamoHealthStore", "build_client", "describe_error"]

T = TypeVar("T")

#: The ceiling for botocore's connect and read timeouts (SPEC §6).
MAX_TIMEOUT_S = 1.0
#: DynamoDB's limit on keys per `BatchGetItem`.
BATCH_GET_MAX_KEYS = 100
_BOTO_ERRORS = (ClientError, BotoCoreError)

Key = dict[str, "AttributeValueTypeDef"]


def build_client(
    *,
    region_name: str | None,
    endpoint_url: str | None = None,
    timeout_s: float = MAX_TIMEOUT_S,
    environ: Mapping[str, str] | None = None,
) -> DynamoDBClient:
    """A DynamoDB client with short timeouts and no retries.

    Given `environ` (a Lambda container's), and where it holds static credentials and names an
    endpoint this client knows, `aws.dynamodb.DynamoDBHttpClient`: it answers as botocore's
    client does, without botocore's ~165 ms import and build (SPEC §14). Otherwise botocore's
    client on its own session (botocore, not boto3: the client is the same, and boto3 and
    s3transfer are not imported). `region_name=None` leaves the region to botocore's own chain
    (`AWS_DEFAULT_REGION`, profile). Raises `HealthStoreError` if it cannot be built.
    """
    timeout = min(timeout_s, MAX_TIMEOUT_S)
    if environ is not None:
        from ..aws.dynamodb import from_environ

        try:
            light = from_environ(environ, region=region_name, endpoint_url=endpoint_url,
                                 timeout_s=timeout)  # fmt: skip
        except ValueError as exc:  # an endpoint URL that is not one
            raise HealthStoreError(f"cannot build a DynamoDB client: {exc}") from exc
        if light is not None:
            return cast("DynamoDBClient", light)
    import botocore.session  # here: the container above never imports it
    from botocore.config import Config as BotoConfig

    config = BotoConfig(
        connect_timeout=timeout,
        read_timeout=timeout,
        # total_max_attempts counts the first try: 1 = no retry. (`max_attempts` in this dict
        # counts retries only: {"max_attempts": 1} would try twice.)
        retries={"total_max_attempts": 1, "mode": "standard"},
    )
    try:
        return botocore.session.Session().create_client(  # type: ignore[return-value]
            "dynamodb", region_name=region_name, endpoint_url=endpoint_url, config=config
        )
    except _BOTO_ERRORS as exc:
        raise HealthStoreError(f"cannot build a DynamoDB client: {exc}") from exc


def describe_error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'ClientError')}: {error.get('Message', '')}"
    return f"{type(exc).__name__}: {exc}"


class DynamoHealthStore:
    """This region's view of the shared health table.

    `region` is the observing region (the `sk` this store writes); `table_region` is where the
    replica it talks to lives (default: `AWS_REGION` from `environ`). Pass `client` to inject one
    (then `table_region`, `environ`, `endpoint_url` and `timeout_s` are unused and `close()`
    leaves it open).
    """

    def __init__(
        self,
        region: str,
        *,
        table: str,
        client: DynamoDBClient | None = None,
        table_region: str | None = None,
        environ: Mapping[str, str] | None = None,
        endpoint_url: str | None = None,
        timeout_s: float = MAX_TIMEOUT_S,
        wall: Callable[[], float] | None = None,
        on_call: Callable[[str], None] | None = None,
        max_workers: int = 4,
    ) -> None:
        self.region = region
        self.table = table
        self._owns_client = client is None
        if client is None:
            region_name = table_region or (environ or {}).get(env.AWS_REGION) or None
            client = build_client(
                region_name=region_name, endpoint_url=endpoint_url, timeout_s=timeout_s
            )
        self._client = client
        self._wall = wall or time.time
        self._on_call = on_call
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="health-store")
        self._closed = False

    @classmethod
    def from_config(
        cls,
        health: Health,
        *,
        region: str,
        environ: Mapping[str, str],
        wall: Callable[[], float] | None = None,
        on_call: Callable[[str], None] | None = None,
    ) -> DynamoHealthStore:
        """The store the `health` config section describes, for the router in `region`."""
        return cls(
            region,
            table=health.table,
            table_region=health.table_region,
            environ=environ,
            wall=wall,
            on_call=on_call,
        )

    async def _call(self, operation: str, call: Callable[[], T]) -> T:
        if self._closed:
            raise HealthStoreError("the health store is closed")
        if self._on_call is not None:
            self._on_call(operation)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, call)
        except _BOTO_ERRORS as exc:
            raise HealthStoreError(
                f"DynamoDB {operation} on {self.table} failed: {describe_error(exc)}"
            ) from exc

    async def _update(self, update: items.Update) -> None:
        def call() -> None:
            self._client.update_item(
                TableName=self.table,
                Key=update.key,
                UpdateExpression=update.expression,
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
            )

        await self._call("UpdateItem", call)

    async def _send(self, build: Callable[..., items.Update], records: Sequence[object]) -> None:
        """One `UpdateItem` per record, concurrently; the first failure is raised once all end."""
        wall = self._wall()
        try:
            updates = [build(record, region=self.region, wall=wall) for record in records]
        except ValueError as exc:  # a NaN or an infinity has no DynamoDB form
            raise HealthStoreError(f"cannot write to {self.table}: {exc}") from exc
        results = await asyncio.gather(*map(self._update, updates), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def write_transition(self, transition: Transition) -> None:
        await self._send(items.transition_update, [transition])

    async def write_counters(self, counters: Sequence[Counters]) -> None:
        await self._send(items.counters_update, counters)

    async def write_probes(self, probes: Sequence[Probe]) -> None:
        await self._send(items.probe_update, probes)

    async def _batch_get_once(self, keys: list[Key]) -> BatchGetItemOutputTypeDef:
        def call() -> BatchGetItemOutputTypeDef:
            return self._client.batch_get_item(RequestItems={self.table: {"Keys": keys}})

        return await self._call("BatchGetItem", call)

    async def _batch_get(self, keys: list[Key]) -> list[Key]:
        """The items found for `keys`; unprocessed keys are asked for once more, then dropped."""
        response = await self._batch_get_once(keys)
        found = response.get("Responses", {}).get(self.table, [])
        unprocessed = response.get("UnprocessedKeys", {}).get(self.table)
        retry = unprocessed.get("Keys") if unprocessed is not None else None
        if retry:
            response = await self._batch_get_once(retry)
            found += response.get("Responses", {}).get(self.table, [])
        return found

    async def read(self, upstream_ids: Sequence[str], regions: Sequence[str]) -> list[Observation]:
        """Every live item for these upstreams and observing regions, in that order.

        Items whose `expires_at` has passed are left out (DynamoDB deletes expired items lazily).
        """
        pairs = [(u, r) for u in dict.fromkeys(upstream_ids) for r in dict.fromkeys(regions)]
        keys = [items.key(u, r) for u, r in pairs]
        found: dict[tuple[str, str], Observation] = {}
        for start in range(0, len(keys), BATCH_GET_MAX_KEYS):
            for item in await self._batch_get(keys[start : start + BATCH_GET_MAX_KEYS]):
                observation = items.observation(item)
                if observation is not None:
                    found[(observation.upstream_id, observation.region)] = observation
        now = self._wall()
        return [
            o
            for pair in pairs
            if (o := found.get(pair)) is not None and (o.expires_at is None or o.expires_at > now)
        ]

    async def close(self) -> None:
        """Stop the thread pool (running calls finish on their own) and close an owned client."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._owns_client:
            self._client.close()
