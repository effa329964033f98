"""A DynamoDB client over its JSON wire protocol, for Lambda containers that hold static
credentials (SPEC §14: cold start).

Why not botocore here: importing botocore and building its DynamoDB client is ~165 ms of a
~575 ms router cold start (measured on the built layer: 95 ms of imports, 70 ms loading the
endpoint and service models), a third of the whole §14 budget, for five operations whose wire
form is the botocore call's own keyword arguments as JSON. So this client speaks the protocol
itself: `POST /` with `X-Amz-Target: DynamoDB_20120810.<Operation>`, SigV4-signed
(`aws/sigv4.py`), over `http.client` keep-alive connections.

It stands in for botocore's client wherever the stores use one: the same method names and
keyword arguments, the same answers (plus `ResponseMetadata`), and botocore's own exception
classes, so the stores' error handling does not know which client it has:
    an error answer            -> `ClientError` (`Error.Code` from `__type`, the answer's other
                                  fields, e.g. the `Item` of `ReturnValuesOnConditionCheckFailure`,
                                  at the top level as botocore puts them)
    connecting times out       -> `ConnectTimeoutError`;   cannot connect -> `EndpointConnectionError`
    reading times out          -> `ReadTimeoutError`;      connection lost -> `ConnectionClosedError`
No retries (as the stores' botocore clients: `total_max_attempts=1`); the timeout bounds the
connect and every read. Thread-safe: the stores call it from their thread pools.

`from_environ` builds one only where botocore would not do anything more: static credentials in
the environment (a Lambda function without SnapStart; with SnapStart the runtime gives container
credentials instead, and botocore, whose import is then part of the snapshot, fetches them), a
region in a partition whose endpoint is `dynamodb.<region>.amazonaws.com[.cn]` (or an endpoint URL
from `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL`), and no FIPS or dual-stack endpoint asked for.
"""

from __future__ import annotations

import http.client
import json
import select
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

from .sigv4 import Credentials, Request, sign

__all__ = ["DynamoDBHttpClient", "from_environ"]

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
#: Environment variables that ask for something this client does not do: botocore is used.
NEEDS_BOTOCORE = ("AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT")
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL")

Connection = http.client.HTTPConnection


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def endpoint_for(region: str, environ: Mapping[str, str]) -> str | None:
    """The endpoint botocore would use, where this client knows it; None where it does not."""
    if not _true(environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")):
        for name in ENDPOINT_VARIABLES:
            if environ.get(name):
                return environ[name]
    if region.startswith(("us-iso", "eu-isoe")) or any(_true(environ.get(n)) for n in NEEDS_BOTOCORE):
        return None
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://dynamodb.{region}.{suffix}"


def from_environ(
    environ: Mapping[str, str], *, region: str | None, endpoint_url: str | None, timeout_s: float
) -> DynamoDBHttpClient | None:
    """This client for `environ`'s static credentials, or None where botocore is needed."""
    access_key = environ.get("AWS_ACCESS_KEY_ID")
    secret_key = environ.get("AWS_SECRET_ACCESS_KEY")
    if not (access_key and secret_key and region):
        return None
    endpoint = endpoint_url or endpoint_for(region, environ)
    if endpoint is None:
        return None
    credentials = Credentials(access_key, secret_key, environ.get("AWS_SESSION_TOKEN") or None)
    return DynamoDBHttpClient(
        endpoint=endpoint, region=region, credentials=credentials, timeout_s=timeout_s
    )


class DynamoDBHttpClient:
    """The botocore DynamoDB client's methods the stores call, over pooled HTTP connections."""

    def __init__(
        self,
        *,
        endpoint: str,
        region: str,
        credentials: Credentials,
        timeout_s: float,
        wall: Callable[[], float] = time.time,
        pool_size: int = 8,
    ) -> None:
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) endpoint URL: {endpoint!r}")
        self.endpoint = endpoint
        self.region = region
        self._https = url.scheme == "https"
        self._host = url.netloc  # the signed Host header
        self._hostname, self._port = url.hostname, url.port
        self._credentials = credentials
        self._timeout_s = timeout_s
        self._wall = wall
        self._pool: list[Connection] = []
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    # The operations the stores use, each as botocore names it.
    def get_item(self, **params: Any) -> dict[str, Any]:
        return self._call("GetItem", params)

    def batch_get_item(self, **params: Any) -> dict[str, Any]:
        return self._call("BatchGetItem", params)

    def update_item(self, **params: Any) -> dict[str, Any]:
        return self._call("UpdateItem", params)

    def query(self, **params: Any) -> dict[str, Any]:
        return self._call("Query", params)

    def transact_write_items(self, **params: Any) -> dict[str, Any]:
        return self._call("TransactWriteItems", params)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, []
        for connection in pool:
            connection.close()

    def _call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        try:
            body = json.dumps(params, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            raise ParamValidationError(report=f"{operation}: {exc}") from exc
        headers = sign(
            Request("POST", self._host, "/", {"Content-Type": CONTENT_TYPE,
                                              "X-Amz-Target": TARGET_PREFIX + operation}, body),
            self._credentials, region=self.region, service="dynamodb", now=self._wall(),
        )  # fmt: skip
        status, request_id, data = self._exchange(body, headers)
        try:
            answer = json.loads(data) if data else {}
        except ValueError:
            answer = None
        if status == 200 and isinstance(answer, dict):
            answer["ResponseMetadata"] = {"HTTPStatusCode": status, "RequestId": request_id}
            return answer
        error = _error_response(status, request_id, answer, data)
        raise ClientError(error, operation)  # type: ignore[arg-type]  # stubs' TypedDict

    def _exchange(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, str, bytes]:
        connection = self._checkout()
        try:
            connection.request("POST", "/", body=body, headers=dict(headers))
            response = connection.getresponse()
            data = response.read()
        except TimeoutError as exc:
            connection.close()
            raise ReadTimeoutError(endpoint_url=self.endpoint, error=exc) from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise ConnectionClosedError(endpoint_url=self.endpoint, error=exc) from exc
        if response.will_close:
            connection.close()
        else:
            self._checkin(connection)
        return response.status, response.getheader("x-amzn-RequestId", ""), data

    def _checkout(self) -> Connection:
        """A pooled connection the peer has not closed meanwhile, else a new one."""
        while True:
            with self._lock:
                connection = self._pool.pop() if self._pool else None
            if connection is None:
                return self._connect()
            if not _dropped(connection):
                return connection
            connection.close()

    def _checkin(self, connection: Connection) -> None:
        with self._lock:
            if len(self._pool) < self._pool_size:
                self._pool.append(connection)
                return
        connection.close()

    def _connect(self) -> Connection:
        connection: Connection
        if self._https:
            connection = http.client.HTTPSConnection(
                self._hostname, self._port, timeout=self._timeout_s, context=self._context()
            )
        else:
            connection = http.client.HTTPConnection(
                self._hostname, self._port, timeout=self._timeout_s
            )
        try:
            connection.connect()
        except TimeoutError as exc:
            connection.close()
            raise ConnectTimeoutError(endpoint_url=self.endpoint, error=exc) from exc
        except OSError as exc:
            connection.close()
            raise EndpointConnectionError(endpoint_url=self.endpoint, error=exc) from exc
        return connection

    def _context(self) -> ssl.SSLContext:
        """One TLS context for the client's life, made on the first connection (loading the CA
        bundle is ~20 ms, as it is for botocore)."""
        with self._lock:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            return self._tls


def _dropped(connection: Connection) -> bool:
    """Whether the peer closed (or wrote to) an idle connection: it is then readable."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _error_response(
    status: int, request_id: str, answer: object, data: bytes
) -> dict[str, Any]:
    """botocore's parsed form of an error answer: `Error.Code` is the part of `__type` after
    `#`, the message is `message` or `Message`, and the answer's other fields stay."""
    metadata = {"HTTPStatusCode": status, "RequestId": request_id}
    if not isinstance(answer, dict):
        text = data[:200].decode("utf-8", "replace")
        return {"Error": {"Code": str(status), "Message": text}, "ResponseMetadata": metadata}
    fields = dict(answer)
    code = str(fields.pop("__type", status)).rsplit("#", 1)[-1]
    message = fields.pop("message", None) or fields.pop("Message", "")
    return {**fields, "Error": {"Code": code, "Message": message}, "ResponseMetadata": metadata}
