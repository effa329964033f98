"""`edge-router usage`: requests, tokens and cost per key, model, day or region (SPEC §13).

    edge-router usage --table edge-router-health                      # this month, by key
    edge-router usage --key app --since 2026-11-01 --by model --csv --config router.yaml

Reads the day items the routers write to the health table (one `Query` per key, never a Scan):
`--table`, else `health.table` of a config whose `health.store` is `dynamodb` (`serve` on the
table). Keys (names and ids) come from where `edge-router keys list` reads with the same flags:
the table with `--table`, else the config's keys file; `--keys-file` with `--table` takes the
keys from the file (a `serve` whose usage is in the table). Exit codes: 0 done, 1 no such key, 2 bad
input or config, 3 the table failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from ..keys.store import KeyStoreError
from ..keys.tokens import key_id
from ..limits.store import LimitsStoreError
from ..ops import usage
from .keys_cmd import Fail, cli_config, open_store, store_options, table_client

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "usage",
        help="requests, tokens and cost per key, model, day or region (keys mode)",
        description="Usage recorded by the routers in the health table, per UTC day: "
        "requests, prompt and completion tokens, and cost. Default: this month so far, by key.",
    )
    parser.add_argument("--key", help="only the key(s) with this name")
    parser.add_argument("--since", type=_day, help="first UTC day (default: the 1st of this month)")
    parser.add_argument("--until", type=_day, help="last UTC day (default: today)")
    parser.add_argument("--by", choices=usage.BY_CHOICES, default="key", help="group by")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print JSON")
    form.add_argument("--csv", action="store_true", help="print CSV")
    store_options(parser)
    parser.set_defaults(func=run)


def _table(args: argparse.Namespace) -> tuple[str, str | None]:
    """The table and its region: `--table`, else a config with `health.store: dynamodb`; the
    region `--table-region`, else the config's `health.table_region` (as `keys list` reads)."""
    config, _ = cli_config(args)
    region = args.table_region or config.health.table_region or None
    if args.table:
        return args.table, region
    if config.health.store != "dynamodb":
        raise Fail("usage is kept in the health table: give --table NAME (or a --config "
                    "whose health.store is dynamodb)", 2)
    return config.health.table, region


def _days(args: argparse.Namespace, today: date) -> tuple[date, date]:
    since, until = args.since or today.replace(day=1), args.until or today
    if since > until:
        said = (f"--since {since} ({'given' if args.since else 'the 1st of this month'}) is "
                f"after --until {until} ({'given' if args.until else 'today, UTC'})")
        raise Fail(said, 2)
    return since, until


def run(args: argparse.Namespace) -> int:
    today = datetime.fromtimestamp(time.time(), UTC).date()
    try:
        since, until = _days(args, today)
        table, region = _table(args)
        key_store, where = open_store(args, file_first=True)
        records = [r for r in key_store.records() if args.key in (None, r.name)]
        if args.key is not None and not records:
            print(f"edge-router usage: no key named {args.key!r} in {where}", file=sys.stderr)
            return 1
        ids = [(r.name, key_id(r.key_hash)) for r in records]
        rows = asyncio.run(_read(table_client(region), table, ids, since, until))
    except Fail as exc:
        print(f"edge-router usage: {exc}", file=sys.stderr)
        return exc.code
    except (KeyStoreError, LimitsStoreError) as exc:
        print(f"edge-router usage: {exc}", file=sys.stderr)
        return 3
    rep = usage.report(rows, by=args.by, since=since, until=until)
    render = usage.render_json if args.json else usage.render_csv if args.csv else (
        usage.render_table)
    print(render(rep))
    return 0


async def _read(client: DynamoDBClient, table: str, keys: list[tuple[str, str]], since: date,
                until: date) -> list[usage.UsageRow]:
    from ..limits.dynamodb import DynamoLimitsStore

    store = DynamoLimitsStore("cli", table=table, client=client)
    try:
        return await usage.read_rows(store, keys, since=since, until=until)
    finally:
        await store.close()
