"""`build_auth`: the authenticator and the upstream-key provider for a config, built once at start
by a composition root (`edge-router serve`, the Lambda handler).

    auth, upstream_auth = build_auth(config, os.environ, store_client=dynamodb_client)
    deps = build_deps(config, auth=auth, upstream_auth=upstream_auth, ...)

Passthrough mode: `(PassthroughAuth(), None)`. Keys mode: `KeysAuth` over the DynamoDB store when
`health.store` is `dynamodb` (the Lambda deployment), else over `auth.keys_file`; and an
`UpstreamKeys` whose keys are all found now, so a missing one fails the start with a
`ConfigError` naming it. Every upstream key is registered with the log redactor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..auth import Authenticator, PassthroughAuth
from ..clock import Clock, SystemClock
from ..config import Config, ConfigError
from ..config import env as env_names
from ..redaction import Redactor, default_redactor
from .auth import CACHE_S, KeysAuth
from .store import FileKeyStore, KeyLookup, KeyStoreError
from .upstream import SecretError, SecretFetch, UpstreamKeys

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

#: Powertools caches a secret this long; a rotated upstream key is in use within this time.
SECRET_MAX_AGE_S = 300

UpstreamAuth = Callable[[str], str | None]


def keys_file_path(config: Config, config_path: str | Path | None) -> Path:
    """`auth.keys_file`, relative to the config file's folder (else to the working directory),
    so `keys create --config F` and `serve --config F` agree wherever they run."""
    path = Path(config.auth.keys_file).expanduser()
    if path.is_absolute() or config_path is None:
        return path
    return Path(config_path).parent / path


def powertools_fetch(client: SecretsManagerClient | None = None) -> SecretFetch:
    """Secrets Manager reads through Powertools Parameters, cached for `SECRET_MAX_AGE_S`."""
    from aws_lambda_powertools.utilities import parameters

    provider = parameters.SecretsProvider(boto3_client=client)

    def fetch(name: str) -> str:
        try:
            value = provider.get(name, max_age=SECRET_MAX_AGE_S)
        except parameters.exceptions.GetParameterError as exc:
            raise SecretError(f"cannot read secret {name!r} ({exc})") from exc
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not isinstance(value, str):
            raise SecretError(f"secret {name!r} is not a string")
        return value

    return fetch


def build_upstream_keys(
    config: Config,
    environ: Mapping[str, str],
    *,
    fetch: SecretFetch | None = None,
    secrets_client: SecretsManagerClient | None = None,
    redactor: Redactor = default_redactor,
    check: bool = True,
) -> UpstreamKeys:
    """Every upstream's key, found now (`ConfigError` names a missing one); with `check=False`
    nothing is read yet: the caller runs `keys.check()` later (after a SnapStart restore)."""
    uses_secrets = bool(config.auth.upstream_secret) or any(
        u.api_key_secret for u in config.upstreams
    )
    if fetch is None and uses_secrets:
        fetch = powertools_fetch(secrets_client)
    keys = UpstreamKeys(config, environ, fetch=fetch, on_key=redactor.add)
    if check:
        keys.check()
    return keys


def _default_store(
    config: Config, environ: Mapping[str, str], store_client: DynamoDBClient | None
) -> KeyLookup:
    if config.health.store == "dynamodb":
        from ..health.dynamodb import build_client
        from .dynamodb import DynamoKeyStore

        if store_client is None:
            region = config.health.table_region or environ.get(env_names.AWS_REGION) or None
            store_client = build_client(region_name=region)
        return DynamoKeyStore(table=config.health.table, client=store_client)
    return FileKeyStore(config.auth.keys_file)


def _check_file(store: FileKeyStore) -> None:
    if not store.exists():
        raise ConfigError(
            f"auth.keys_file: {store.path} does not exist; create a key first with "
            "`edge-router keys create --name NAME --config FILE`"
        )
    try:
        store.records()
    except KeyStoreError as exc:
        raise ConfigError(f"auth.keys_file: {exc}") from exc


def build_auth(
    config: Config,
    environ: Mapping[str, str],
    *,
    key_store: KeyLookup | None = None,
    store_client: DynamoDBClient | None = None,
    secrets_client: SecretsManagerClient | None = None,
    fetch: SecretFetch | None = None,
    clock: Clock | None = None,
    redactor: Redactor = default_redactor,
    check_keys: bool = True,
) -> tuple[Authenticator, UpstreamKeys | None]:
    """The authenticator for `config.auth.mode` and, in keys mode, the upstream-key provider.

    `key_store` overrides the store choice (`serve` passes the keys file resolved against the
    config file's folder); `store_client` is the DynamoDB client to share with the health
    store; `secrets_client`/`fetch` replace Powertools' own Secrets Manager client. Raises
    `ConfigError` (naming the key) when keys mode cannot start. `check_keys=False` defers
    reading the upstream keys to `UpstreamKeys.check()` (SnapStart: after the restore).
    """
    if config.auth.mode != "keys":
        return PassthroughAuth(), None
    upstream_keys = build_upstream_keys(
        config, environ, fetch=fetch, secrets_client=secrets_client, redactor=redactor,
        check=check_keys,
    )
    store = key_store or _default_store(config, environ, store_client)
    if isinstance(store, FileKeyStore):
        _check_file(store)
        cache_s = 0.0  # the file store re-reads the file when it changes; nothing to cache
    else:
        cache_s = CACHE_S
    auth = KeysAuth(store, clock=clock or SystemClock(), cache_s=cache_s)
    return auth, upstream_keys
