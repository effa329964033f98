"""What `serve` checks before it starts, in one place: `edge-router config check` runs exactly
this, so a config that passes `check` starts `serve`, and one that fails `serve` fails `check`
with the same message.

    setup = load_for_serve("router.yaml", environ=os.environ, region=None)
    setup.config, setup.auth, setup.upstream_auth, setup.ops_token   # what `serve` builds from
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..api.ops_auth import ops_token
from ..auth import Authenticator
from ..config import Config, build_config, env
from ..config.loader import read_yaml
from ..keys.build import UpstreamAuth, build_auth, keys_file_path
from ..keys.store import FileKeyStore


@dataclass(frozen=True, slots=True)
class ServeSetup:
    config: Config
    auth: Authenticator
    upstream_auth: UpstreamAuth | None
    #: the operator token of `ops.token_env`, if set
    ops_token: str | None
    #: the config file, if any (`--config`, else `$EDGE_ROUTER_CONFIG`)
    path: str | None
    #: the file is empty or only comments: the built-in defaults apply
    empty_file: bool


def config_path(path: str | None, environ: Mapping[str, str]) -> str | None:
    return path or environ.get(env.CONFIG) or None


def load_for_serve(
    path: str | None, *, environ: Mapping[str, str], region: str | None
) -> ServeSetup:
    """Load and check everything `serve` needs (config, keys file, upstream keys, ops token);
    raises `ConfigError` naming the key, the file or the environment variable at fault."""
    path = config_path(path, environ)
    raw = read_yaml(path) if path is not None else {}
    config = build_config(raw, environ=environ, region=region)
    # Keys mode: keys from auth.keys_file (never the table locally), upstream keys found now.
    keys_file = keys_file_path(config, path)
    auth, upstream_auth = build_auth(config, environ, key_store=FileKeyStore(keys_file))
    token = ops_token(config, environ)
    return ServeSetup(
        config, auth, upstream_auth, token, path, empty_file=path is not None and not raw
    )


def describe(setup: ServeSetup) -> str:
    """Where the config came from, for the start-up line of `serve`."""
    if setup.path is None:
        return "the built-in default config"
    if setup.empty_file:
        return f"{setup.path}, which is empty: using the built-in defaults"
    return setup.path
