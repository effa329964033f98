"""`edge-router serve`: the router on uvicorn (uvloop + httptools) with the in-memory store."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys

from ..config import ConfigError, env, load_config, summary


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


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..api.app import create_app
    from ..build import build_deps
    from ..keys.build import build_auth, keys_file_path
    from ..keys.store import FileKeyStore
    from ..redaction import install_log_redaction

    try:
        config = load_config(args.config, environ=os.environ, region=args.region)
        # Keys mode: keys from auth.keys_file (never the table locally), upstream keys found now.
        keys_file = keys_file_path(config, args.config or os.environ.get(env.CONFIG) or None)
        auth, upstream_auth = build_auth(config, os.environ, key_store=FileKeyStore(keys_file))
    except ConfigError as exc:
        print(f"edge-router: invalid config: {exc}", file=sys.stderr)
        return 2
    if config.health.store != "memory":
        print("edge-router serve: health.store is forced to 'memory' locally", file=sys.stderr)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    app = create_app(build_deps(config, auth=auth, upstream_auth=upstream_auth))
    # Long-lived objects built at start-up never need collecting: keep them out of the
    # collector's young generations so its pauses stay short under load (p99).
    gc.collect()
    gc.freeze()
    print(f"edge-router serving on http://{args.host}:{args.port} — {summary(config)}", flush=True)
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
