"""The router's own DynamoDB client (`aws/dynamodb.py`): what botocore answers, it answers.

Against a moto server (the wire protocol): the same items and the same error codes as botocore's
client for the same calls. Against a small local HTTP server: the request it sends, keep-alive
reuse, a connection the peer closed while idle, an answer that is not JSON, a silent server and a
closed port (botocore's exception classes, so the stores' handling is unchanged). The store
contract suites run the stores on it too (`dynamodb-http`).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

from edge_router.aws.dynamodb import DynamoDBHttpClient, endpoint_for, from_environ
from edge_router.health.dynamodb import build_client
from tests.support import moto_dynamodb
from tests.support.moto_dynamodb import MotoTable

moto_endpoint = moto_dynamodb.moto_endpoint  # fixtures, used by name
moto_table = moto_dynamodb.moto_table

STATIC = {"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret"}


def without_metadata(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def test_it_answers_as_botocore_does(moto_table: MotoTable) -> None:
    ours = moto_dynamodb.http_client(moto_table.endpoint_url)
    theirs = moto_table.client()
    key = {"pk": {"S": "upstream#a"}, "sk": {"S": "us-east-1"}}
    update = dict(TableName=moto_table.name, Key=key, UpdateExpression="ADD #n :one",
                  ExpressionAttributeNames={"#n": "n"},
                  ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="ALL_NEW")  # fmt: skip

    assert ours.update_item(**update)["Attributes"] == {**key, "n": {"N": "1"}}
    assert theirs.update_item(**update)["Attributes"] == {**key, "n": {"N": "2"}}
    get = dict(TableName=moto_table.name, Key=key, ConsistentRead=True)
    assert without_metadata(ours.get_item(**get)) == without_metadata(theirs.get_item(**get))
    batch = {"RequestItems": {moto_table.name: {"Keys": [key]}}}
    assert without_metadata(ours.batch_get_item(**batch)) == without_metadata(
        theirs.batch_get_item(**batch))  # fmt: skip
    assert ours.get_item(**get)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_errors_are_botocores_client_errors(moto_table: MotoTable) -> None:
    ours = moto_dynamodb.http_client(moto_table.endpoint_url)
    key = {"pk": {"S": "x"}, "sk": {"S": "y"}}
    with pytest.raises(ClientError) as mine:
        ours.get_item(TableName="no-such-table", Key=key)
    with pytest.raises(ClientError) as boto:
        moto_table.client().get_item(TableName="no-such-table", Key=key)

    assert mine.value.response["Error"] == boto.value.response["Error"]
    assert mine.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert mine.value.operation_name == "GetItem"
    assert str(mine.value) == str(boto.value)


def test_a_value_json_cannot_carry_is_a_param_validation_error(moto_table: MotoTable) -> None:
    with pytest.raises(ParamValidationError, match="GetItem"):
        moto_dynamodb.http_client(moto_table.endpoint_url).get_item(
            TableName=moto_table.name, Key={"pk": {"B": b"\x00"}})  # fmt: skip


class Recorder(BaseHTTPRequestHandler):
    """Answers every POST with `server.answer`; records requests and connections."""

    protocol_version = "HTTP/1.1"
    server: FakeDynamo

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1
        self.server.sockets.append(self.connection)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((dict(self.headers.items()), body))
        status, payload = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("x-amzn-RequestId", "REQ1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


class FakeDynamo(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Recorder)
        self.connections = 0
        self.sockets: list[socket.socket] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.answer: tuple[int, bytes] = (200, b"{}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def drop_idle(self) -> None:
        """Close every connection from the server's side, as a load balancer's idle cut does."""
        for sock in self.sockets:
            sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def fake() -> Iterator[FakeDynamo]:
    server = FakeDynamo()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client_for(url: str, timeout_s: float = 10.0) -> DynamoDBHttpClient:
    made = from_environ({**STATIC, "AWS_SESSION_TOKEN": "TOKEN"}, region="eu-central-1",
                        endpoint_url=url, timeout_s=timeout_s)  # fmt: skip
    assert isinstance(made, DynamoDBHttpClient)
    return made


def test_the_request_is_a_signed_json_post(fake: FakeDynamo) -> None:
    client_for(fake.url).update_item(TableName="t", Key={"pk": {"S": "a"}})

    [(headers, body)] = fake.requests
    assert json.loads(body) == {"TableName": "t", "Key": {"pk": {"S": "a"}}}
    assert headers["X-Amz-Target"] == "DynamoDB_20120810.UpdateItem"
    assert headers["Content-Type"] == "application/x-amz-json-1.0"
    assert headers["Host"] == fake.url.removeprefix("http://")
    assert headers["X-Amz-Security-Token"] == "TOKEN"
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
    assert "/eu-central-1/dynamodb/aws4_request, SignedHeaders=content-type;host;" \
           "x-amz-date;x-amz-security-token;x-amz-target, Signature=" in headers["Authorization"]


def test_connections_are_reused_and_one_closed_while_idle_is_replaced(fake: FakeDynamo) -> None:
    client = client_for(fake.url)
    for _ in range(5):
        assert client.get_item(TableName="t", Key={})["ResponseMetadata"]["RequestId"] == "REQ1"
    assert fake.connections == 1

    fake.drop_idle()  # e.g. while the Lambda container was frozen
    assert client.get_item(TableName="t", Key={})["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert (fake.connections, len(fake.requests)) == (2, 6)
    client.close()


def test_an_answer_that_is_not_json_is_a_client_error_with_the_status(fake: FakeDynamo) -> None:
    fake.answer = (502, b"<html>Bad Gateway</html>")
    with pytest.raises(ClientError) as raised:
        client_for(fake.url).query(TableName="t")
    assert raised.value.response["Error"] == {"Code": "502", "Message": "<html>Bad Gateway</html>"}
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502


def test_an_error_keeps_the_answers_other_fields(fake: FakeDynamo) -> None:
    fake.answer = (400, json.dumps({
        "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "message": "The conditional request failed", "Item": {"n": {"N": "3"}}}).encode())
    with pytest.raises(ClientError) as raised:
        client_for(fake.url).update_item(TableName="t", Key={})
    assert raised.value.response["Error"] == {
        "Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}
    assert raised.value.response["Item"] == {"n": {"N": "3"}}


def test_a_closed_port_and_a_silent_server_are_botocore_errors() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: refused
        with pytest.raises(EndpointConnectionError, match=f"127.0.0.1:{port}"):
            client_for(f"http://127.0.0.1:{port}", timeout_s=5).get_item(TableName="t", Key={})

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts (the kernel does), never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ReadTimeoutError, match="Read timeout"):
            client_for(url, timeout_s=0.2).get_item(TableName="t", Key={})


@pytest.mark.parametrize(
    ("environ", "region", "expected"),
    [
        (STATIC, "us-east-1", "https://dynamodb.us-east-1.amazonaws.com"),
        (STATIC, "cn-north-1", "https://dynamodb.cn-north-1.amazonaws.com.cn"),
        ({**STATIC, "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000"}, "us-east-1",
         "http://127.0.0.1:8000"),
        ({**STATIC, "AWS_ENDPOINT_URL": "http://127.0.0.1:8001"}, "us-east-1",
         "http://127.0.0.1:8001"),
        ({**STATIC, "AWS_ENDPOINT_URL": "http://x:1", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
         "eu-west-1", "https://dynamodb.eu-west-1.amazonaws.com"),
        # botocore, for what this client does not do:
        ({"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9001/creds"}, "us-east-1", None),
        ({"AWS_ACCESS_KEY_ID": "a"}, "us-east-1", None),
        (STATIC, None, None),
        ({**STATIC, "AWS_USE_FIPS_ENDPOINT": "true"}, "us-east-1", None),
        ({**STATIC, "AWS_USE_DUALSTACK_ENDPOINT": "True"}, "us-east-1", None),
        (STATIC, "us-isob-east-1", None),
    ],
)  # fmt: skip
def test_which_client_the_environment_gets(
    environ: dict[str, str], region: str | None, expected: str | None
) -> None:
    made = from_environ(environ, region=region, endpoint_url=None, timeout_s=1)
    assert (made.endpoint if made else None) == expected
    if region is not None:  # build_client takes it, else botocore
        built = build_client(region_name=region, environ=environ)
        assert isinstance(built, DynamoDBHttpClient) == (expected is not None)
    assert endpoint_for("us-east-1", {}) == "https://dynamodb.us-east-1.amazonaws.com"


def test_without_an_environment_build_client_is_botocores() -> None:
    assert not isinstance(build_client(region_name="us-east-1"), DynamoDBHttpClient)
