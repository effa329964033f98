"""`edge-router config check FILE`: validate a config file exactly as `serve` would (the same
`serve_setup.load_for_serve`: the config, then in keys mode the keys file and upstream keys)."""

from __future__ import annotations

import argparse
import os
import sys

from ..config import ConfigError, summary
from .serve_setup import load_for_serve


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("config", help="check a configuration file")
    inner = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = inner.add_parser(
        "check", help="validate FILE as `serve` would and print a one-line summary"
    )
    check.add_argument("file", help="path to the YAML config")
    check.add_argument("--region", help="router region to resolve `home` for")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    try:
        setup = load_for_serve(args.file, environ=os.environ, region=args.region)
    except ConfigError as exc:
        # an error from the file itself or from a variable names its source; a key's error
        # is the file's
        print(str(exc) if exc.source else f"{args.file}: {exc}", file=sys.stderr)
        return 2
    empty = " (empty: using the built-in defaults)" if setup.empty_file else ""
    print(f"{args.file}: ok{empty}")
    print(summary(setup.config))
    return 0
