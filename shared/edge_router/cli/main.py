"""`edge-router`: the console script. Each subcommand lives in its own module with `register()`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__

#: Subcommand modules under `edge_router.cli`; each defines `register(subparsers)` and sets `func`.
COMMANDS = ("serve", "config_cmd", "cost", "probe", "status", "simulate", "keys_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-router",
        description="HolySheep Edge Router: an OpenAI-compatible LLM API router with failover.",
    )
    parser.add_argument("--version", action="version", version=f"edge-router {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__package__}.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
