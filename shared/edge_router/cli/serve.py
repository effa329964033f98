"""`edge-router serve`: the router on uvicorn (uvloop + httptools), with the in-memory health
store, or the DynamoDB one when `health.store: dynamodb` (`AWS_ENDPOINT_URL_DYNAMODB` can point it
at a local moto server, as the table drill of `make chaos` does). The wiring and the server live
in `runtime/serve.py`; this module is the command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..config import ConfigError, summary
from .listen import ListenError, listen
from .serve_setup import describe, load_for_serve


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
    from ..runtime.serve import build_serve_app, run_server

    try:
        setup = load_for_serve(args.config, environ=os.environ, region=args.region)
    except ConfigError as exc:
        print(f"edge-router: invalid config: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    app = build_serve_app(setup.config, auth=setup.auth, upstream_auth=setup.upstream_auth,
                          ops_token=setup.ops_token)  # fmt: skip
    try:  # listen before saying so: a busy port is one line, not a banner and a traceback
        sock = listen(args.host, args.port)
    except ListenError as exc:
        print(f"edge-router serve: {exc}", file=sys.stderr)
        return 1
    print(f"edge-router serving on http://{args.host}:{args.port} — {summary(setup.config)}"
          f" — from {describe(setup)}", flush=True)
    return run_server(app, host=args.host, port=args.port, log_level=args.log_level,
                      limits=setup.config.limits,
                      access_log=args.access_log, sock=sock)
