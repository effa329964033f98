"""The DynamoDB limits store (SPEC §13): the `LimitsStore` port over the shared health table.

    admit   one conditional `UpdateItem` (`ADD requests :one` if `requests < :cap`) on this
            region's minute item: exact within a region, whatever the number of containers
    read    one `BatchGetItem` of known keys (other regions' minute items, every region's month)
    add     one `UpdateItem ADD` per item (usage flushes)
    query   `Query` on `pk = usage#<key id>`, a sort-key range (the usage report); never Scan

Like the health store, boto3 runs in a small thread pool owned by the store, on a client built
once per container with timeouts ≤ 1 s and no retries (`health.dynamodb.build_client`), so the
caller can bound every call with `asyncio.wait_for`. Every botocore error becomes a
`LimitsStoreError`; a failed condition becomes `WindowFull` with the item's current counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from ..health.dynamodb import describe_error
from .store import COUNTERS, Add, Counts, LimitsStoreError, WindowFull, usage_pk

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

T = TypeVar("T")
Item = dict[str, "AttributeValueTypeDef"]
BATCH_GET_MAX_KEYS = 100
_BOTO_ERRORS = (ClientError, BotoCoreError)
_NAMES = {f"#{name}": name for name in (*COUNTERS, "expires_at")}


def _n(value: int | Decimal) -> AttributeValueTypeDef:
    return {"N": format(value, "f") if isinstance(value, Decimal) else str(value)}


def counts(item: Item) -> Counts:
    """The counters of an item (absent ones are 0; cost stays a Decimal)."""

    def number(name: str) -> Decimal:
        raw = item.get(name, {}).get("N")
        return Decimal(raw) if raw is not None else Decimal(0)

    return Counts(
        requests=int(number("requests")),
        tokens=int(number("tokens")),
        prompt_tokens=int(number("prompt_tokens")),
        completion_tokens=int(number("completion_tokens")),
        cost_usd=number("cost_usd"),
    )


def _live(item: Item, now: float) -> bool:
    raw = item.get("expires_at", {}).get("N")
    return raw is None or float(raw) > now


class DynamoLimitsStore:
    """This region's limits view of the shared table. Inject `client` (one per container)."""

    def __init__(
        self,
        region: str,
        *,
        table: str,
        client: DynamoDBClient,
        wall: Callable[[], float] | None = None,
        on_call: Callable[[str], None] | None = None,
        max_workers: int = 8,
    ) -> None:
        self.region = region
        self.table = table
        self._client = client
        self._wall = wall or time.time
        self._on_call = on_call
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="limits-store")

    def _key(self, key_id: str, sk: str) -> Item:
        return {"pk": {"S": usage_pk(key_id)}, "sk": {"S": sk}}

    async def _call(self, operation: str, call: Callable[[], T]) -> T:
        if self._on_call is not None:
            self._on_call(operation)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, call)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                old: Any = exc.response.get("Item", {})  # ALL_OLD: the item that refused
                raise WindowFull(counts(old)) from exc
            raise LimitsStoreError(
                f"DynamoDB {operation} on {self.table} failed: {describe_error(exc)}"
            ) from exc
        except BotoCoreError as exc:
            raise LimitsStoreError(
                f"DynamoDB {operation} on {self.table} failed: {describe_error(exc)}"
            ) from exc

    async def admit(
        self,
        key_id: str,
        sk: str,
        *,
        request_cap: int | None,
        token_cap: int | None,
        add_tokens: int,
        expires_at: int,
    ) -> Counts:
        if (request_cap is not None and request_cap <= 0) or (
            token_cap is not None and token_cap <= 0
        ):
            raise WindowFull(Counts())  # full from the other regions alone: no call
        values: dict[str, AttributeValueTypeDef] = {
            ":one": _n(1), ":tokens": _n(add_tokens), ":exp": _n(expires_at),
        }
        conditions = []
        if request_cap is not None:
            conditions.append("(attribute_not_exists(#requests) OR #requests < :rcap)")
            values[":rcap"] = _n(request_cap)
        if token_cap is not None:
            conditions.append("(attribute_not_exists(#tokens) OR #tokens < :tcap)")
            values[":tcap"] = _n(token_cap)
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": self._key(key_id, sk),
            "UpdateExpression": "ADD #requests :one, #tokens :tokens SET #expires_at = :exp",
            "ExpressionAttributeNames": {k: _NAMES[k] for k in ("#requests", "#tokens",
                                                                  "#expires_at")},
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if conditions:
            kwargs["ConditionExpression"] = " AND ".join(conditions)
        answer = await self._call("UpdateItem", lambda: self._client.update_item(**kwargs))
        return counts(dict(answer.get("Attributes", {})))

    async def read(self, key_id: str, sks: Sequence[str]) -> dict[str, Counts]:
        keys = [self._key(key_id, sk) for sk in dict.fromkeys(sks)]
        found: list[Item] = []
        for start in range(0, len(keys), BATCH_GET_MAX_KEYS):
            batch = keys[start : start + BATCH_GET_MAX_KEYS]
            for _ in range(2):  # unprocessed keys are asked for once more, then dropped
                response = await self._batch_get(batch)
                found += [dict(i) for i in response.get("Responses", {}).get(self.table, [])]
                unprocessed = response.get("UnprocessedKeys", {}).get(self.table)
                batch = list(unprocessed.get("Keys", [])) if unprocessed else []
                if not batch:
                    break
        now = self._wall()
        return {item["sk"]["S"]: counts(item) for item in found if _live(item, now)}

    async def _batch_get(self, keys: list[Item]) -> Any:
        return await self._call("BatchGetItem", lambda: self._client.batch_get_item(
            RequestItems={self.table: {"Keys": keys}}))

    async def _add(self, add: Add) -> None:
        values: dict[str, AttributeValueTypeDef] = {":exp": _n(add.expires_at)}
        names = {"#expires_at": "expires_at"}
        parts = []
        for name, value in add.counts.items():
            if name not in COUNTERS:
                raise ValueError(f"unknown counter {name!r}")
            names[f"#{name}"] = name
            values[f":{name}"] = _n(value)
            parts.append(f"#{name} :{name}")
        expression = (f"ADD {', '.join(parts)} " if parts else "") + "SET #expires_at = :exp"
        await self._call("UpdateItem", lambda: self._client.update_item(
            TableName=self.table, Key=self._key(add.key_id, add.sk),
            UpdateExpression=expression, ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        ))

    async def add(self, adds: Sequence[Add]) -> None:
        results = await asyncio.gather(*map(self._add, adds), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def query(self, key_id: str, first: str, last: str) -> list[tuple[str, Counts]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": {":pk": {"S": usage_pk(key_id)},
                                          ":first": {"S": first}, ":last": {"S": last}},
        }
        out: list[tuple[str, Counts]] = []
        now = self._wall()
        while True:
            page = await self._call("Query", lambda: self._client.query(**kwargs))
            out += [(i["sk"]["S"], counts(dict(i))) for i in page.get("Items", [])
                    if _live(dict(i), now)]
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
