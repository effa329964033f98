"""Router keys in the shared health table (SPEC §7), for the Lambda router.

    pk = "key#<sha256>"   sk = "key"          name, created_at, models, rpm, tpm, budget_usd
    pk = "keys"           sk = "name#<name>"  the same, and key_hash, revoked_at

`rpm`, `tpm` and `budget_usd` (SPEC §13) live on both items: `find` reads them with the key, so
a limited key costs no extra read; `update_limits` changes both in one transaction.

The router reads one item per lookup, with `GetItem` on the hash: never a `Scan`, and never the
index. The index partition is for the CLI: `keys list` is one `Query`, `keys revoke --name` finds
the hash there. Revoking deletes the `key#` item and stamps the index item, so a revoked key is
as absent from `find` as a key that never existed. Neither item has `expires_at`, so the table's
TTL never removes a key. The health checker's role is limited to `upstream#*` partitions.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..limits.windows import KeyLimits
from .store import KeyExists, KeyNotFound, KeyStoreError, parse_limits
from .tokens import KeyRecord, is_hash, same_hash

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

KEY_PREFIX = "key#"
KEY_SK = "key"
INDEX_PK = "keys"
INDEX_SK_PREFIX = "name#"
#: How long the request that needs a key lookup waits for DynamoDB.
LOOKUP_TIMEOUT_S = 1.0

Item = dict[str, "AttributeValueTypeDef"]
_BOTO_ERRORS = (ClientError, BotoCoreError)


def key_item_key(key_hash: str) -> Item:
    return {"pk": {"S": KEY_PREFIX + key_hash}, "sk": {"S": KEY_SK}}


def index_item_key(name: str) -> Item:
    return {"pk": {"S": INDEX_PK}, "sk": {"S": INDEX_SK_PREFIX + name}}


def _models(item: Item) -> tuple[str, ...]:
    return tuple(v["S"] for v in item.get("models", {}).get("L", []) if "S" in v)


def _number(item: Item, name: str) -> float | None:
    value = item.get(name, {}).get("N")
    return None if value is None else float(value)


def _limits(item: Item) -> KeyLimits:
    def raw(name: str) -> str | None:
        return item.get(name, {}).get("N")

    try:
        return parse_limits(raw("rpm"), raw("tpm"), raw("budget_usd"))
    except ValueError as exc:
        raise KeyStoreError(f"a key item has malformed limits ({exc})") from exc


def _limit_values(limits: KeyLimits) -> Item:
    return {
        "rpm": {"N": str(limits.rpm)},
        "tpm": {"N": str(limits.tpm)},
        "budget_usd": {"N": str(limits.budget_usd)},
    }


def _error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


class DynamoKeyStore:
    """The `KeyStore` over the health table. Inject `client` (built once per container)."""

    def __init__(
        self,
        *,
        table: str,
        client: DynamoDBClient,
        timeout_s: float = LOOKUP_TIMEOUT_S,
        on_call: Callable[[str], None] | None = None,
    ) -> None:
        self.table = table
        self._client = client
        self._timeout_s = timeout_s
        self._on_call = on_call
        self._executor = ThreadPoolExecutor(2, thread_name_prefix="key-store")

    def _get(self, key: Item, *, consistent: bool = False) -> Item | None:
        if self._on_call is not None:
            self._on_call("GetItem")
        try:
            answer = self._client.get_item(TableName=self.table, Key=key, ConsistentRead=consistent)
        except _BOTO_ERRORS as exc:
            raise KeyStoreError(f"DynamoDB GetItem on {self.table} failed: {_error(exc)}") from exc
        return answer.get("Item")

    async def find(self, key_hash: str) -> KeyRecord | None:
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._executor, self._get, key_item_key(key_hash))
        try:
            item = await asyncio.wait_for(call, self._timeout_s)
        except TimeoutError as exc:
            raise KeyStoreError(f"DynamoDB GetItem on {self.table} timed out") from exc
        stored = item["pk"]["S"].removeprefix(KEY_PREFIX) if item is not None else None
        if not same_hash(stored, key_hash) or item is None:
            return None
        return KeyRecord(
            name=item.get("name", {}).get("S", "?"),
            key_hash=key_hash,
            created_at=_number(item, "created_at") or 0.0,
            models=_models(item),
            limits=_limits(item),
        )

    def create(self, record: KeyRecord) -> None:
        models: AttributeValueTypeDef = {"L": [{"S": m} for m in record.models]}
        common: Item = {
            "name": {"S": record.name},
            "created_at": {"N": repr(record.created_at)},
            "models": models,
            **_limit_values(record.limits),
        }
        try:
            self._client.transact_write_items(TransactItems=[
                {"Put": {
                    "TableName": self.table,
                    "Item": {**index_item_key(record.name), **common,
                             "key_hash": {"S": record.key_hash}},
                    "ConditionExpression": "attribute_not_exists(pk) OR attribute_exists(revoked_at)",
                }},
                {"Put": {
                    "TableName": self.table,
                    "Item": {**key_item_key(record.key_hash), **common},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }},
            ])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise KeyExists(
                    f"an active key named {record.name!r} exists; revoke it first"
                ) from exc
            raise KeyStoreError(f"DynamoDB write to {self.table} failed: {_error(exc)}") from exc
        except BotoCoreError as exc:
            raise KeyStoreError(f"DynamoDB write to {self.table} failed: {_error(exc)}") from exc

    def records(self) -> list[KeyRecord]:
        out: list[KeyRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": INDEX_PK}},
        }
        try:
            while True:
                page = self._client.query(**kwargs)
                out.extend(self._index_record(item) for item in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except _BOTO_ERRORS as exc:
            raise KeyStoreError(f"DynamoDB Query on {self.table} failed: {_error(exc)}") from exc
        return sorted(out, key=lambda r: r.created_at)

    @staticmethod
    def _index_record(item: Item) -> KeyRecord:
        key_hash = item.get("key_hash", {}).get("S", "")
        if not is_hash(key_hash):
            raise KeyStoreError("a key index item has no valid key_hash")
        return KeyRecord(
            name=item.get("name", {}).get("S", "?"),
            key_hash=key_hash,
            created_at=_number(item, "created_at") or 0.0,
            models=_models(item),
            revoked_at=_number(item, "revoked_at"),
            limits=_limits(item),
        )

    def revoke(self, name: str, *, at: float) -> KeyRecord:
        item = self._get(index_item_key(name), consistent=True)
        if item is None or "revoked_at" in item:
            raise KeyNotFound(f"no active key named {name!r}")
        record = self._index_record(item)
        try:
            self._client.transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": self.table,
                    "Key": index_item_key(name),
                    "UpdateExpression": "SET revoked_at = :at",
                    "ConditionExpression": "attribute_not_exists(revoked_at)",
                    "ExpressionAttributeValues": {":at": {"N": repr(at)}},
                }},
                {"Delete": {"TableName": self.table, "Key": key_item_key(record.key_hash)}},
            ])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise KeyNotFound(f"no active key named {name!r}") from exc
            raise KeyStoreError(f"DynamoDB write to {self.table} failed: {_error(exc)}") from exc
        except BotoCoreError as exc:
            raise KeyStoreError(f"DynamoDB write to {self.table} failed: {_error(exc)}") from exc
        return dataclasses.replace(record, revoked_at=at)

    def update_limits(self, name: str, limits: KeyLimits) -> KeyRecord:
        item = self._get(index_item_key(name), consistent=True)
        if item is None or "revoked_at" in item:
            raise KeyNotFound(f"no active key named {name!r}")
        record = self._index_record(item)
        values = {f":{k}": v for k, v in _limit_values(limits).items()}
        expression = "SET rpm = :rpm, tpm = :tpm, budget_usd = :budget_usd"
        try:
            self._client.transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": self.table, "Key": index_item_key(name),
                    "UpdateExpression": expression, "ExpressionAttributeValues": values,
                    "ConditionExpression": "attribute_not_exists(revoked_at)",
                }},
                {"Update": {
                    "TableName": self.table, "Key": key_item_key(record.key_hash),
                    "UpdateExpression": expression, "ExpressionAttributeValues": values,
                    "ConditionExpression": "attribute_exists(pk)",
                }},
            ])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise KeyNotFound(f"no active key named {name!r}") from exc
            raise KeyStoreError(f"DynamoDB write to {self.table} failed: {_error(exc)}") from exc
        except BotoCoreError as exc:
            raise KeyStoreError(f"DynamoDB write to {self.table} failed: {_error(exc)}") from exc
        return dataclasses.replace(record, limits=limits)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
