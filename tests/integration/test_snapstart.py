"""SnapStart restore hooks (SPEC §14), simulated as Lambda's Python runtime runs them: the
handler is built (the init), the hooks registered with `snapshot_restore_py` run before the
snapshot (in reverse order), the process state is copied as a snapshot would be, and the
after-restore hooks run (in order) in each "restored container".

What must differ between restored containers does (the jitter RNG), what must not survive a
snapshot does not (pooled upstream connections), and secrets are read after the restore, not at
init (under `AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import snapshot_restore_py

from edge_router.keys.upstream import UpstreamKeys
from edge_router.runtime.lambda_buffered import RouterHandler
from edge_router.runtime.snapstart import INITIALIZATION_TYPE, SNAP_START
from tests.integration.lambda_harness import HOME, Lambdas, SimThread, invoke
from tests.support.moto_dynamodb import MotoTable

pytestmark = pytest.mark.integration

REGION = "eu-central-1"
SNAPSHOT_INIT = {INITIALIZATION_TYPE: SNAP_START}


@pytest.fixture(autouse=True)
def hook_registry() -> Iterator[None]:
    """The runtime's registries are process-wide: each test starts and ends with them empty."""
    snapshot_restore_py.get_before_snapshot().clear()
    snapshot_restore_py.get_after_restore().clear()
    yield
    snapshot_restore_py.get_before_snapshot().clear()
    snapshot_restore_py.get_after_restore().clear()


def take_snapshot() -> None:
    for func, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
        func(*args, **kwargs)


def restore() -> None:
    for func, args, kwargs in snapshot_restore_py.get_after_restore():
        func(*args, **kwargs)


def jitter(rng: random.Random) -> list[float]:
    return [rng.random() for _ in range(8)]


def test_each_restored_container_draws_its_own_jitter(lambdas: Lambdas) -> None:
    handler = lambdas.router(lambdas.environ(REGION, env=SNAPSHOT_INIT))
    rng = handler.deps.service.rng
    take_snapshot()
    snapshot: Any = rng.getstate()
    # GIVEN two containers restored from one snapshot (the same RNG state in memory)
    drawn = []
    for _ in range(2):
        rng.setstate(snapshot)
        restore()
        drawn.append(jitter(rng))
    # THEN each draws its own sequence, and neither is the snapshot's
    rng.setstate(snapshot)
    assert drawn[0] != drawn[1]
    assert jitter(rng) not in drawn


def test_the_deferred_routes_are_built_into_the_snapshot(lambdas: Lambdas) -> None:
    handler = lambdas.router(lambdas.environ(REGION, env=SNAPSHOT_INIT))
    assert not handler.routes.built
    take_snapshot()
    assert handler.routes.built


def test_pooled_upstream_connections_are_dropped_after_a_restore(
    lambdas: Lambdas, sim: SimThread
) -> None:
    handler = lambdas.router(lambdas.environ(REGION, proxied=(HOME,), env=SNAPSHOT_INIT))
    # GIVEN a pooled connection (as if one had been opened before the snapshot)
    for _ in range(2):
        assert invoke(handler, "chat").status == 200
    assert sim.proxy(HOME).accepted == 1
    take_snapshot()
    restore()
    # THEN the restored container opens its own
    assert invoke(handler, "chat").status == 200
    assert sim.proxy(HOME).accepted == 2


def test_the_health_checker_drops_its_probe_connections_after_a_restore(
    lambdas: Lambdas, sim: SimThread
) -> None:
    checker = lambdas.checker(lambdas.environ(REGION, proxied=(HOME,), env=SNAPSHOT_INIT))
    checker.loop.run(checker.check())
    assert sim.proxy(HOME).accepted == 1
    take_snapshot()
    restore()
    checker.loop.run(checker.check())
    assert sim.proxy(HOME).accepted == 2


@pytest.fixture
def keys_environ(lambdas: Lambdas, moto_table: MotoTable,
                 monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:  # fmt: skip
    """Keys mode with the upstream key in a Secrets Manager secret (on the moto server)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_table.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_table.endpoint_url)
    return lambdas.environ(REGION, health_table=moto_table.name, env={
        **SNAPSHOT_INIT, "EDGE_ROUTER_AUTH_MODE": "keys",
        "EDGE_ROUTER_UPSTREAM_SECRET": f"edge-router/{uuid.uuid4().hex[:8]}",  # not yet there
        "EDGE_ROUTER_HEALTH_TABLE_REGION": moto_table.region,
    })  # fmt: skip


def upstream_keys(handler: RouterHandler) -> UpstreamKeys:
    keys = handler.deps.service.upstream_auth
    assert isinstance(keys, UpstreamKeys)
    return keys


def test_secrets_are_read_after_the_restore_not_at_init(
    lambdas: Lambdas, moto_table: MotoTable, keys_environ: dict[str, str]
) -> None:
    # GIVEN the secret does not even exist during the init: nothing reads it then
    handler = lambdas.router(keys_environ)
    keys = upstream_keys(handler)
    take_snapshot()
    assert keys.sources == {} and keys(HOME) is None
    # WHEN it exists by the time a container is restored
    # (in the process's default region, where Powertools' own client looks)
    boto3.client("secretsmanager", endpoint_url=moto_table.endpoint_url).create_secret(
        Name=keys_environ["EDGE_ROUTER_UPSTREAM_SECRET"], SecretString="hs-after-restore")
    restore()
    # THEN the restored container has it
    assert keys(HOME) == "hs-after-restore"
    assert set(keys.sources) == set(handler.deps.registry.states)


def test_without_snapstart_the_secret_is_read_at_init(
    lambdas: Lambdas, keys_environ: dict[str, str]
) -> None:
    from edge_router.config import ConfigError

    environ = {k: v for k, v in keys_environ.items() if k != INITIALIZATION_TYPE}
    with pytest.raises(ConfigError, match=r"auth\.upstream_secret"):
        lambdas.router(environ)


@pytest.mark.parametrize("snapstart", [True, False])
def test_a_snapstart_init_never_bakes_static_credentials_into_the_small_client(
    lambdas: Lambdas, moto_table: MotoTable, monkeypatch: pytest.MonkeyPatch, snapstart: bool
) -> None:
    """Static credentials read at a SnapStart init would be restored hours later, expired: such
    an init builds botocore's client (which renews what Lambda gives SnapStart); a plain init
    builds the small one (`aws/dynamodb.py`), with the same static credentials present."""
    from edge_router.aws.dynamodb import DynamoDBHttpClient

    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_table.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSTATIC")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "static-secret")
    environ = lambdas.environ(REGION, health_table=moto_table.name,
                              env=SNAPSHOT_INIT if snapstart else {})  # fmt: skip
    handler = lambdas.router(environ)
    assert isinstance(handler.store._client, DynamoDBHttpClient) is not snapstart  # type: ignore[attr-defined]
