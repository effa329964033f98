"""`edge-router config check FILE`: validate a config file the way `serve` would."""

from __future__ import annotations

import argparse
import os
import sys

from ..config import ConfigError, load_config, summary


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("config", help="check a configuration file")
    inner = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = inner.add_parser("check", help="validate FILE and print a one-line summary")
    check.add_argument("file", help="path to the YAML config")
    check.add_argument("--region", help="router region to resolve `home` for")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file, environ=os.environ, region=args.region)
    except ConfigError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 2
    print(f"{args.file}: ok")
    print(summary(config))
    return 0
