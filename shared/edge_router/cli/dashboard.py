"""`edge-router dashboard --table T [--port P]`: the dashboard of `GET /dashboard`, served on
localhost from the health table with your own AWS credentials (SPEC §15) — for deployments whose
ops endpoints are private (the template's default).

    edge-router dashboard --table edge-router-health --region us-east-1
    # edge-router dashboard on http://127.0.0.1:8099/dashboard — table edge-router-health (us-east-1)

The regions shown are the config's `home` regions plus `--region`; the replica read is
`health.table_region`, else `--region`, else `$AWS_REGION` (as `edge-router status`). The page
refreshes every few seconds; the table is read at most once per 2 s whoever asks.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..config import ConfigError, env, load_config
from ..health.records import Observation
from .listen import ListenError, listen
from .status import known_regions

DEFAULT_PORT = 8099


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "dashboard",
        help="the /dashboard page on localhost, drawn from the health table",
        description="Serve the router's health dashboard on localhost, reading the DynamoDB "
        "health table with your AWS credentials (for deployments whose ops endpoints are "
        "private).",
    )
    parser.add_argument("--table", help="health table name (default: the config's health.table)")
    parser.add_argument("--config", help="YAML config (default: $EDGE_ROUTER_CONFIG, built-in)")
    parser.add_argument(
        "--region", help="an observing region to include, and the replica to read "
        "(default: $AWS_REGION)")  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT}; 0 = any free port)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..api.table_dashboard import create_table_dashboard_app
    from ..health.dynamodb import DynamoHealthStore

    try:
        config = load_config(args.config, environ=os.environ, region=args.region)
    except ConfigError as exc:
        print(f"edge-router dashboard: invalid config: {exc}", file=sys.stderr)
        return 2
    table = args.table or config.health.table
    table_region = config.health.table_region or args.region or os.environ.get(env.AWS_REGION)
    if not table_region:
        print("edge-router dashboard: no region to read the table in: pass --region R or set "
              "$AWS_REGION", file=sys.stderr)  # fmt: skip
        return 2
    regions = known_regions(config)
    store = DynamoHealthStore(
        config.region, table=table, table_region=table_region, environ=os.environ
    )
    upstream_ids = [u.id for u in config.upstreams]

    async def read() -> list[Observation]:
        return await store.read(upstream_ids, regions)

    source = f"table {table} ({table_region})"
    app = create_table_dashboard_app(config, regions=regions, read=read, source=source)
    try:
        sock = listen(args.host, args.port)
    except ListenError as exc:
        print(f"edge-router dashboard: {exc}", file=sys.stderr)
        return 1
    host, port = sock.getsockname()[:2]
    print(f"edge-router dashboard on http://{host}:{port}/dashboard — {source}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    server.run(sockets=[sock])
    return 0
