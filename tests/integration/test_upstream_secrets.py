"""Upstream keys from Secrets Manager through Powertools Parameters (moto server over HTTP)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from edge_router.config import ConfigError, build_config
from edge_router.keys.build import build_auth, build_upstream_keys
from edge_router.redaction import Redactor
from tests.support.moto_dynamodb import moto_server

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


@pytest.fixture
def secrets() -> Iterator[tuple[SecretsManagerClient, Counter[str]]]:
    with moto_server() as url:
        client = boto3.session.Session().client(
            "secretsmanager", region_name="us-east-1", endpoint_url=url
        )
        reads: Counter[str] = Counter()
        client.meta.events.register(
            "before-parameter-build.secrets-manager.GetSecretValue",
            lambda params, **_: reads.update([params["SecretId"]]),
        )
        yield client, reads


def config(secret: str | None = None, **upstream: Any) -> Any:
    auth: dict[str, Any] = {"mode": "keys", "upstream_secret": secret}
    upstreams = [
        {"id": "a", "base_url": "http://a.test/v1", **upstream},
        {"id": "b", "base_url": "http://b.test/v1", "api_key_env": "B_KEY"},
    ]
    return build_config({"upstreams": upstreams, "auth": auth})


def test_shared_secret_json_object_and_env_fallback(
    secrets: tuple[SecretsManagerClient, Counter[str]],
) -> None:
    client, reads = secrets
    client.create_secret(Name="edge/upstreams", SecretString=json.dumps({"a": "key-a-from-sm"}))
    redactor = Redactor()
    keys = build_upstream_keys(config("edge/upstreams", api_key_env="A_KEY"),
                               {"B_KEY": "key-b-from-env"}, secrets_client=client,
                               redactor=redactor)
    assert keys("a") == "key-a-from-sm"
    assert keys("b") == "key-b-from-env"
    for _ in range(5):
        keys("a")
    assert reads["edge/upstreams"] == 1  # read at start-up, then from Powertools' cache (max_age)
    assert redactor("key-a-from-sm key-b-from-env") == "[REDACTED] [REDACTED]"


def test_per_upstream_secret(secrets: tuple[SecretsManagerClient, Counter[str]]) -> None:
    client, _ = secrets
    client.create_secret(Name="holysheep", SecretString="key-a-own-secret\n")
    keys = build_upstream_keys(config(api_key_secret="holysheep"), {"B_KEY": "key-b"},
                               secrets_client=client, redactor=Redactor())
    assert keys("a") == "key-a-own-secret"


def test_missing_secret_fails_the_start_naming_the_key(
    secrets: tuple[SecretsManagerClient, Counter[str]],
) -> None:
    client, _ = secrets
    with pytest.raises(ConfigError) as info:
        build_auth(config("does-not-exist", api_key_env="A_KEY"), {"B_KEY": "key-b"},
                   secrets_client=client)
    assert str(info.value).startswith("auth.upstream_secret: cannot read secret 'does-not-exist'")
