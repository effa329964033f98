"""`edge-router keys create|update|list|revoke`: manage router keys for keys mode (SPEC §7, §13).

    edge-router keys create --name alice --models gpt-4.1,deepseek-v3.2 --config router.yaml
    edge-router keys create --name app --rpm 60 --tpm 100000 --budget-usd 50 --config router.yaml
    edge-router keys update --name app --rpm 120          # other limits stay as they are
    edge-router keys list --config router.yaml
    edge-router keys revoke --name alice --config router.yaml
    edge-router keys create --name ci --table edge-router-health     # the Lambda deployment's

`create` prints the new key once, alone on stdout (so `KEY=$(edge-router keys create …)` works);
the store keeps only its SHA-256. `list` never shows a key, nor a hash beyond 8 hex digits.
Exit codes: 0 done, 1 nothing to do (name taken, no such key), 2 bad input or config, 3 the store
failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Config, ConfigError, env, load_config
from ..keys.build import keys_file_path
from ..keys.store import FileKeyStore, KeyExists, KeyNotFound, KeyStore, KeyStoreError
from ..keys.tokens import KeyRecord, check_name, generate_key, hash_key, short_hash
from ..limits.windows import KeyLimits

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_STORE_HELP = (
    "Keys live in auth.keys_file of --config (relative paths are relative to the config "
    "file), or, with --table, in the DynamoDB health table the Lambda router reads "
    "(region: --table-region, else health.table_region, else the AWS default; "
    "AWS_ENDPOINT_URL_DYNAMODB points it at a local DynamoDB)."
)


def store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config (default: $EDGE_ROUTER_CONFIG, else built-in)")
    parser.add_argument("--keys-file", help="override auth.keys_file")
    parser.add_argument("--table", help="use this DynamoDB table instead of the keys file")
    parser.add_argument("--table-region", help="AWS region of --table's replica")


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative (0 = unlimited)")
    return value


def _usd(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount in USD") from exc
    if not value.is_finite() or value < 0 or value.adjusted() > 12:
        raise argparse.ArgumentTypeError("must be an amount from 0 (unlimited) up")
    return value


def _limit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rpm", type=_count, help="requests per minute (0 = unlimited)")
    parser.add_argument("--tpm", type=_count,
                        help="prompt + completion tokens per minute (0 = unlimited)")
    parser.add_argument("--budget-usd", type=_usd,
                        help="USD per UTC calendar month (0 = unlimited)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "keys",
        help="create, list and revoke router keys (auth.mode: keys)",
        description="Router keys (sk-edge-…) for auth.mode: keys. " + _STORE_HELP,
    )
    inner = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = inner.add_parser(
        "create",
        help="create a key and print it once",
        description="Create a router key and print it once; only its SHA-256 is stored. "
        "Rotation: create a new key, move clients to it, then revoke the old one.",
    )
    create.add_argument("--name", required=True, help="unique name, [A-Za-z0-9._-]{1,64}")
    create.add_argument("--models", default="",
                        help="comma-separated models the key may use (default: every model)")
    _limit_options(create)
    store_options(create)
    create.set_defaults(func=run_create)
    update = inner.add_parser(
        "update",
        help="change a key's rpm, tpm or budget",
        description="Change the limits of the active key NAME; limits not given stay as they "
        "are. A running `serve` applies them at once; a warm Lambda container within 60 s.",
    )
    update.add_argument("--name", required=True, help="name of the key to change")
    _limit_options(update)
    store_options(update)
    update.set_defaults(func=run_update)
    listing = inner.add_parser("list", help="list keys: name, created, status, limits, models",
                               description="List keys (never the keys, nor full hashes).")
    listing.add_argument("--json", action="store_true", help="print JSON")
    store_options(listing)
    listing.set_defaults(func=run_list)
    revoke = inner.add_parser(
        "revoke",
        help="revoke a key by name",
        description="Revoke the active key NAME. A running `serve` refuses it at once; a warm "
        "Lambda container within 60 s (its lookup cache).",
    )
    revoke.add_argument("--name", required=True, help="name of the key to revoke")
    store_options(revoke)
    revoke.set_defaults(func=run_revoke)


class Fail(Exception):
    """A user error with its exit code (`usage` shares it)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def cli_config(args: argparse.Namespace) -> tuple[Config, str | None]:
    """The config the flags name (`--config`, else `$EDGE_ROUTER_CONFIG`, else built-in), and
    its path; a broken one is `Fail` (exit 2) naming the key."""
    config_path = args.config or os.environ.get(env.CONFIG) or None
    try:
        return load_config(config_path, environ=os.environ), config_path
    except ConfigError as exc:
        raise Fail(f"invalid config: {exc}", 2) from exc


def table_client(region: str | None) -> DynamoDBClient:
    """A boto3 DynamoDB client for the operator's tools; no region anywhere is `Fail` (exit 2)
    saying where one comes from, not botocore's traceback."""
    import boto3
    from botocore.exceptions import NoRegionError

    try:
        return boto3.session.Session().client("dynamodb", region_name=region)
    except NoRegionError as exc:
        raise Fail("no region for the table: give --table-region R (or health.table_region "
                   "in --config, or set AWS_REGION)", 2) from exc


def open_store(args: argparse.Namespace, *, file_first: bool = False) -> tuple[KeyStore, str]:
    """Where the keys are: `--table`, else the keys file (`--keys-file`, else `auth.keys_file`).
    Both `--table` and `--keys-file` is `Fail` (which one?), unless `file_first` (`usage`: the
    keys from the file, their usage from the table, as for a `serve` on the table)."""
    config, config_path = cli_config(args)
    if args.table and args.keys_file and not file_first:
        raise Fail("give --table or --keys-file, not both: the keys live in one of them", 2)
    if args.table and not (file_first and args.keys_file):
        from ..keys.dynamodb import DynamoKeyStore

        client = table_client(args.table_region or config.health.table_region or None)
        return DynamoKeyStore(table=args.table, client=client), f"table {args.table}"
    path = keys_file_path(config, config_path) if not args.keys_file else args.keys_file
    resolved = Path(path).resolve()
    return FileKeyStore(resolved), str(resolved)


def _run(args: argparse.Namespace, action: Any) -> int:
    try:
        store, where = open_store(args)
        return int(action(store, where))
    except Fail as exc:
        print(f"edge-router keys: {exc}", file=sys.stderr)
        return exc.code
    except (KeyExists, KeyNotFound) as exc:
        print(f"edge-router keys: {exc}", file=sys.stderr)
        return 1
    except KeyStoreError as exc:
        print(f"edge-router keys: {exc}", file=sys.stderr)
        return 3


def _models(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))


def run_create(args: argparse.Namespace) -> int:
    def create(store: KeyStore, where: str) -> int:
        try:
            name = check_name(args.name)
        except ValueError as exc:
            raise Fail(str(exc), 2) from exc
        key = generate_key()
        models = _models(args.models)
        limits = _limits(args, KeyLimits())
        store.create(KeyRecord(name, hash_key(key), round(time.time(), 3), models,
                               limits=limits))
        print(key, flush=True)
        scope = ", ".join(models) if models else "every model"
        print(f"created key '{name}' ({scope}; {_describe(limits)}) in {where}. This is the "
              "only time the key is shown: only its SHA-256 hash is stored.", file=sys.stderr)
        return 0

    return _run(args, create)


def _limits(args: argparse.Namespace, base: KeyLimits) -> KeyLimits:
    return KeyLimits(
        rpm=base.rpm if args.rpm is None else args.rpm,
        tpm=base.tpm if args.tpm is None else args.tpm,
        budget_usd=base.budget_usd if args.budget_usd is None else args.budget_usd,
    )


def _describe(limits: KeyLimits) -> str:
    if not limits.any:
        return "no limits"
    parts = [f"rpm {limits.rpm}" if limits.rpm else "", f"tpm {limits.tpm}" if limits.tpm else "",
             f"budget ${limits.budget_usd}/month" if limits.budget_usd else ""]
    return ", ".join(p for p in parts if p)


def run_update(args: argparse.Namespace) -> int:
    def update(store: KeyStore, where: str) -> int:
        if args.rpm is None and args.tpm is None and args.budget_usd is None:
            raise Fail("nothing to change: give --rpm, --tpm or --budget-usd", 2)
        current = next((r for r in store.records() if r.name == args.name and r.active), None)
        if current is None:
            raise KeyNotFound(f"no active key named {args.name!r}")
        record = store.update_limits(args.name, _limits(args, current.limits))
        print(f"updated key '{record.name}' in {where}: {_describe(record.limits)}")
        return 0

    return _run(args, update)


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_list(args: argparse.Namespace) -> int:
    def listing(store: KeyStore, where: str) -> int:
        rows: list[dict[str, Any]] = [
            {
                "name": r.name,
                "created": _iso(r.created_at),
                "models": list(r.models),
                "status": "active" if r.active else "revoked",
                "revoked": _iso(r.revoked_at),
                "hash_prefix": short_hash(r.key_hash),
                "rpm": r.limits.rpm,
                "tpm": r.limits.tpm,
                "budget_usd": str(r.limits.budget_usd),
            }
            for r in store.records()
        ]
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        if not rows:
            print(f"no keys in {where}")
            return 0
        print(f"{'NAME':<24} {'CREATED':<21} {'STATUS':<8} {'HASH':<10} {'RPM':>7} {'TPM':>9} "
              f"{'BUDGET/MO':>10}  MODELS")
        for row in rows:
            models = ",".join(row["models"]) or "*"
            budget = "-" if Decimal(row["budget_usd"]) == 0 else f"${row['budget_usd']}"
            print(f"{row['name']:<24} {row['created']:<21} {row['status']:<8} "
                  f"{row['hash_prefix'] + '…':<10} {row['rpm'] or '-':>7} {row['tpm'] or '-':>9} "
                  f"{budget:>10}  {models}")
        return 0

    return _run(args, listing)


def run_revoke(args: argparse.Namespace) -> int:
    def revoke(store: KeyStore, where: str) -> int:
        record = store.revoke(args.name, at=round(time.time(), 3))
        print(f"revoked key '{record.name}' in {where}")
        return 0

    return _run(args, revoke)
