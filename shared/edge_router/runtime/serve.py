"""The HTTP server that runs the app in a process: uvicorn with uvloop and httptools (SPEC §10).

Two callers, one server: `edge-router serve` (`cli/serve.py`, with `build_serve_app`) and the
router Lambda in `ResponseMode: stream` (`functions/router/run.sh` → `runtime.lambda_stream`,
behind the Lambda Web Adapter). Whatever the server is configured with here (limits, timeouts,
the server itself) applies to both.
"""

from __future__ import annotations

import gc
import os
import socket
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..config import Config
from ..config.model import Limits

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from ..auth import Authenticator
    from ..health.store import HealthStore
    from ..keys.build import UpstreamAuth
    from ..limits.store import LimitsStore

__all__ = ["build_serve_app", "run_server"]


def _dynamodb_store(config: Config, environ: Mapping[str, str]) -> HealthStore | None:
    """The shared table, as under Lambda (SPEC §6). Advisory: if no client can be built, the
    router runs on the memory store (None) rather than failing to start."""
    from ..health.dynamodb import DynamoHealthStore  # boto3 only when asked for
    from ..health.store import HealthStoreError

    try:
        return DynamoHealthStore.from_config(
            config.health, region=config.region, environ=environ, wall=time.time
        )
    except HealthStoreError as exc:
        print(f"edge-router serve: health store unavailable, using memory: {exc}", file=sys.stderr)
        return None


def _limits_store(config: Config, environ: Mapping[str, str]) -> LimitsStore | None:
    """Keys mode on the shared table: limits and usage there too (SPEC §13); else (None) the
    memory store. Advisory, like the health store."""
    if config.auth.mode != "keys" or config.health.store != "dynamodb":
        return None
    from ..config import env
    from ..health.dynamodb import build_client
    from ..health.store import HealthStoreError
    from ..limits.build import limits_store

    try:
        client = build_client(region_name=config.health.table_region
                              or environ.get(env.AWS_REGION) or None)
    except HealthStoreError as exc:
        print(f"edge-router serve: limits store unavailable, using memory: {exc}", file=sys.stderr)
        return None
    return limits_store(config, client=client, wall=time.time)


def build_serve_app(
    config: Config,
    *,
    auth: Authenticator,
    upstream_auth: UpstreamAuth | None,
    ops_token: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ASGIApp:
    """The app as `edge-router serve` wires it (`auth`/`upstream_auth` from
    `cli.serve_setup.load_for_serve`): the in-memory health store, or the table when
    `health.store: dynamodb` (`AWS_ENDPOINT_URL_DYNAMODB` can point it at a local moto server)."""
    from ..api.app import create_app
    from ..build import build_deps

    environ = os.environ if environ is None else environ
    store = _dynamodb_store(config, environ) if config.health.store == "dynamodb" else None
    # Prometheus at /metrics (SPEC §15); `ops_token` (`ops.token_env`) guards the ops endpoints
    from ..prometheus_metrics import PrometheusMetrics

    deps = build_deps(config, auth=auth, upstream_auth=upstream_auth, store=store,
                      metrics=PrometheusMetrics(config), ops_token=ops_token,
                      limits_store=_limits_store(config, environ))  # fmt: skip
    return create_app(deps)


def run_server(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    log_level: str = "warning",
    access_log: bool = False,
    sock: socket.socket | None = None,
    limits: Limits | None = None,
) -> int:
    """Serve `app` until SIGINT/SIGTERM; 0 after a clean stop, 1 if the server never started
    (e.g. the port is taken). `sock`: an already listening socket (`cli.listen.listen`, so a
    busy port is reported before anything says "serving on"); else uvicorn binds host:port.
    `access_log` logs every request whatever `log_level` is. `limits`: the config's, for the
    HTTP server's hostile-input limits (`runtime.http_limits`; the defaults when None)."""
    import logging

    import uvicorn

    from ..redaction import install_log_redaction
    from .http_limits import server_options

    # Long-lived objects built at start-up never need collecting: keep them out of the
    # collector's young generations so its pauses stay short under load (p99).
    gc.collect()
    gc.freeze()
    server_config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        loop="uvloop",
        lifespan="off",
        **server_options(limits or Limits()),  # httptools, with SPEC §3's limits
    )
    if access_log:  # uvicorn's access lines are INFO: below a "warning" log level otherwise
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    install_log_redaction()  # after uvicorn has configured its loggers: covers their handlers
    server = uvicorn.Server(server_config)
    server.run(sockets=None if sock is None else [sock])
    return 0 if server.started else 1
