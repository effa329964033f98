"""`edge-router status`: the global health matrix (upstream × observing region).

    edge-router status [--config F] [--table T] [--region R] [--store dynamodb] [--json]
    edge-router status --url http://127.0.0.1:8080 [--key sk-edge-…] [--json]

From the health store (default): one `BatchGetItem` of every configured upstream × every known
region (the config's `home` regions, plus `--region`), read from the table's replica in
`health.table_region`, else `--region`, else `$AWS_REGION`. `--url` reads a running router's
`/status` instead (its live breakers plus the observers it last read), which is how to look at a
local `edge-router serve`: the memory store lives inside that process. In keys mode `/status`
needs a router key, and with `ops.token_env` set the operator token: `--key`, else
`$EDGE_ROUTER_KEY`.

Exit code 0 when no upstream is open or failing its probes anywhere, 1 when one is, 2 when the
config, the store or the router cannot be read. The matrix is `edge_router.status_matrix`, its
rendering `edge_router.status_render`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from ..config import Config, ConfigError, env, load_config
from ..health.store import HealthStoreError
from ..status_matrix import Matrix, from_observations, from_status
from ..status_render import render, to_json

#: Where `--url` mode finds a router key when `--key` is not given.
KEY_ENV = "EDGE_ROUTER_KEY"
HTTP_TIMEOUT_S = 5.0


class StatusError(Exception):
    """The matrix cannot be read; the message says why and what to do."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "status",
        help="global health matrix (upstream × observing region) from the health store",
        description="Print the health matrix: for every upstream and every observing region, "
        "the breaker state, latency and when that region last wrote. Reads the DynamoDB health "
        "table, or a running router's /status with --url. Exit 0 if nothing is open or failing "
        "its probes anywhere, 1 if something is, 2 if nothing could be read.",
    )
    parser.add_argument("--config", help="YAML config (default: $EDGE_ROUTER_CONFIG, built-in)")
    parser.add_argument("--table", help="health table name (default: the config's health.table)")
    parser.add_argument(
        "--region",
        help="an observing region to include, and the replica to read (default: $AWS_REGION)",
    )
    parser.add_argument(
        "--store",
        choices=["dynamodb", "memory"],
        default="dynamodb",
        help="where health lives (default dynamodb; memory lives inside `serve`: use --url)",
    )
    parser.add_argument("--url", help="read a running router's /status, e.g. http://127.0.0.1:8080")
    parser.add_argument("--key", help="router key (keys mode) or operator token (ops.token_env) "
                        f"for /status (default ${KEY_ENV})")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def known_regions(config: Config) -> list[str]:
    """The `home` regions, plus this one (a region that is merely `local` only when alone)."""
    regions = list(config.home)
    if config.region not in regions and (config.region != "local" or not regions):
        regions.append(config.region)
    return regions


async def _read_store(config: Config, *, table: str, table_region: str | None) -> Matrix:
    from ..health.dynamodb import DynamoHealthStore

    regions = known_regions(config)
    store = DynamoHealthStore(
        config.region, table=table, table_region=table_region, environ=os.environ
    )
    try:
        observations = await store.read([u.id for u in config.upstreams], regions)
    finally:
        await store.close()
    where = f"table {table}" + (f" ({table_region})" if table_region else "")
    upstreams = [(u.id, u.name) for u in config.upstreams]
    return from_observations(upstreams, regions, observations, now=time.time(), source=where)


def read_store(args: argparse.Namespace, environ: Mapping[str, str]) -> Matrix:
    if args.store == "memory":
        raise StatusError(
            "the memory store lives inside each `edge-router serve` process; "
            "read one with --url http://127.0.0.1:8080"
        )
    try:
        config = load_config(args.config, environ=environ, region=args.region)
    except ConfigError as exc:
        raise StatusError(f"invalid config: {exc}") from exc
    table = args.table or config.health.table
    table_region = config.health.table_region or args.region or environ.get(env.AWS_REGION)
    try:
        return asyncio.run(_read_store(config, table=table, table_region=table_region or None))
    except HealthStoreError as exc:
        hint = "" if table_region else " (pass --region R or set $AWS_REGION: the replica to read)"
        raise StatusError(f"cannot read the health table: {exc}{hint}") from exc


def status_url(url: str) -> str:
    """`/status` of the router at `url`; `127.0.0.1:8080` means `http://127.0.0.1:8080`."""
    url = url.rstrip("/")
    if "://" not in url:
        url = "http://" + url
    return url if url.endswith("/status") else url + "/status"


def fetch_status(url: str, key: str | None) -> dict[str, Any]:
    """GET a router's `/status` as JSON; every failure is a `StatusError` that says what to do."""
    headers = {"accept": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise StatusError(
                f"{url} answered 401: it wants a router key (keys mode) or its operator token "
                f"(ops.token_env); pass --key or set ${KEY_ENV}"
            ) from exc
        raise StatusError(f"{url} answered HTTP {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StatusError(f"cannot reach {url}: {reason}") from exc
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise StatusError(f"{url} did not answer JSON") from exc
    if not isinstance(body, dict) or "upstreams" not in body or "region" not in body:
        raise StatusError(f"{url} is not an edge-router /status")
    return body


def read_url(args: argparse.Namespace, environ: Mapping[str, str]) -> Matrix:
    url = status_url(args.url)
    body = fetch_status(url, args.key or environ.get(KEY_ENV) or None)
    return from_status(body, now=time.time(), source=f"{url} (router in {body['region']})")


def run(args: argparse.Namespace) -> int:
    try:
        matrix = read_url(args, os.environ) if args.url else read_store(args, os.environ)
    except StatusError as exc:
        print(f"edge-router status: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(to_json(matrix), indent=2))
    else:
        print(render(matrix))
    return 1 if matrix.down else 0
