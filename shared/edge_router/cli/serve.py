"""`edge-router serve`: the router on uvicorn (uvloop + httptools), with the in-memory health
store, or the DynamoDB one when `health.store: dynamodb` (`AWS_ENDPOINT_URL_DYNAMODB` can point it
at a local moto server, as the table drill of `make chaos` does)."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import time
from typing import TYPE_CHECKING

from ..config import Config, ConfigError, summary
from .serve_setup import describe, load_for_serve

if TYPE_CHECKING:
    from ..health.store import HealthStore


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "serve",
        help="run the router locally",
        description="Run the router on uvicorn. Config: --config, else $EDGE_ROUTER_CONFIG, "
        "else the built-in HolySheep five-region default.",
    )
    parser.add_argument("--config", help="YAML config file")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument("--region", help="this router's region (default: $EDGE_ROUTER_REGION, "
                        "$AWS_REGION, else 'local')")
    parser.add_argument("--log-level", default="warning",
                        choices=["debug", "info", "warning", "error"])
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.set_defaults(func=run)


def _dynamodb_store(config: Config) -> HealthStore | None:
    """The shared table, as under Lambda (SPEC §6). Advisory: if no client can be built, the
    router runs on the memory store (None) rather than failing to start."""
    from ..health.dynamodb import DynamoHealthStore  # boto3 only when asked for
    from ..health.store import HealthStoreError

    try:
        return DynamoHealthStore.from_config(
            config.health, region=config.region, environ=os.environ, wall=time.time
        )
    except HealthStoreError as exc:
        print(f"edge-router serve: health store unavailable, using memory: {exc}", file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..api.app import create_app
    from ..build import build_deps
    from ..redaction import install_log_redaction

    try:
        setup = load_for_serve(args.config, environ=os.environ, region=args.region)
    except ConfigError as exc:
        print(f"edge-router: invalid config: {exc}", file=sys.stderr)
        return 2
    config, auth, upstream_auth = setup.config, setup.auth, setup.upstream_auth
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    store = _dynamodb_store(config) if config.health.store == "dynamodb" else None
    app = create_app(build_deps(config, auth=auth, upstream_auth=upstream_auth, store=store))
    # Long-lived objects built at start-up never need collecting: keep them out of the
    # collector's young generations so its pauses stay short under load (p99).
    gc.collect()
    gc.freeze()
    print(f"edge-router serving on http://{args.host}:{args.port} — {summary(config)}"
          f" — from {describe(setup)}", flush=True)
    server_config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        loop="uvloop",
        http="httptools",
        lifespan="off",
    )
    install_log_redaction()  # after uvicorn has configured its loggers: covers their handlers
    server = uvicorn.Server(server_config)
    server.run()
    return 0 if server.started else 1
