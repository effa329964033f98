"""A real moto server over HTTP for DynamoDB tests, with tables built from the infra template.

    from tests.support import moto_dynamodb
    moto_endpoint = moto_dynamodb.moto_endpoint  # fixtures, used by name (or list this module
    moto_table = moto_dynamodb.moto_table        # in the root conftest's `pytest_plugins`)

    async def test_x(moto_table, monkeypatch):
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_table.endpoint_url)
        store = DynamoHealthStore("us-east-1", table=moto_table.name, table_region=moto_table.region)

`moto_endpoint` (module scope) is the server's URL; `moto_table` (per test) is a fresh table,
with a unique name, keyed and TTL'd exactly as `infra/global-table.yaml` says. Moto does not
replicate, so tests of several router regions point every store at one replica
(`table_region`), as SPEC §6 describes. Moto never expires items by TTL.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from .cfn import GLOBAL_TABLE_TEMPLATE, table_schema

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

REGION = "us-east-1"
#: botocore's timeouts for clients the code under test builds, in tests that are not about them
PATIENT_TIMEOUT_S = 10.0


def patient_clients(monkeypatch: pytest.MonkeyPatch, timeout_s: float = PATIENT_TIMEOUT_S) -> None:
    """Let DynamoDB clients built by the health store and the Lambda container wait `timeout_s`
    instead of the production cap (1 s, SPEC §6): a loaded machine's moto server answered some
    calls after 1 s, failing syncs and writes that tests of other things rely on. The cap and
    the sync bound have their own tests (test_health_dynamodb, test_lambda_health_sharing)."""
    from edge_router.health import dynamodb
    from edge_router.runtime import container

    original = dynamodb.build_client

    def patient(**kwargs: Any) -> DynamoDBClient:  # the store passes its own 1 s: replaced
        return original(**{**kwargs, "timeout_s": timeout_s})

    monkeypatch.setattr(dynamodb, "MAX_TIMEOUT_S", timeout_s)
    monkeypatch.setattr(dynamodb, "build_client", patient)
    monkeypatch.setattr(container, "build_client", patient)


@contextmanager
def moto_server() -> Iterator[str]:
    """Run a moto server on a free port of 127.0.0.1; yields its endpoint URL. Its per-request
    access lines (werkzeug's, INFO) are not printed (`make bench` printed thousands)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def client(endpoint_url: str | None, region: str = REGION) -> DynamoDBClient:
    """A plain client for setting up and inspecting tables (`None`: AWS's own endpoint, for
    `mock_aws`)."""
    return boto3.session.Session().client("dynamodb", region_name=region, endpoint_url=endpoint_url)


def new_table(endpoint_url: str | None, region: str = REGION) -> str:
    """A fresh table with a unique name on the moto server at `endpoint_url` (None: under
    `mock_aws`), keyed as the template says; its name."""
    name = f"health-{uuid.uuid4().hex[:12]}"
    create_table(client(endpoint_url, region), name)
    return name


def http_client(endpoint_url: str, region: str = REGION,
                timeout_s: float = PATIENT_TIMEOUT_S) -> DynamoDBClient:
    """The router's own wire client (`aws.dynamodb`, what a Lambda container with static
    credentials uses), pointed at a moto server, with the harness's fake credentials."""
    from edge_router.aws.dynamodb import from_environ

    environ = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_SESSION_TOKEN": "testing"}  # fmt: skip
    made = from_environ(environ, region=region, endpoint_url=endpoint_url, timeout_s=timeout_s)
    assert made is not None
    return made  # type: ignore[return-value]


def create_table(
    dynamodb: DynamoDBClient, name: str, *, template: Path = GLOBAL_TABLE_TEMPLATE
) -> None:
    """Create table `name` with the key schema and TTL attribute the template declares."""
    schema = table_schema(template)
    dynamodb.create_table(
        TableName=name,
        KeySchema=schema.key_schema,  # type: ignore[arg-type]
        AttributeDefinitions=schema.attribute_definitions,  # type: ignore[arg-type]
        BillingMode="PAY_PER_REQUEST",
    )
    if schema.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": schema.ttl_attribute, "Enabled": True},
        )


@dataclass(frozen=True)
class MotoTable:
    endpoint_url: str
    name: str
    region: str

    def client(self) -> DynamoDBClient:
        return client(self.endpoint_url, self.region)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """The URL of a moto server shared by one test module."""
    with moto_server() as url:
        yield url


@pytest.fixture
def moto_table(moto_endpoint: str) -> MotoTable:
    """A fresh health table on the module's moto server, in `REGION`."""
    return MotoTable(moto_endpoint, new_table(moto_endpoint), REGION)
