"""`edge-router`: the console script. Each subcommand lives in its own module with `register()`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from .. import __version__

#: Subcommand modules under `edge_router.cli`; each defines `register(subparsers)` and sets `func`.
COMMANDS = (
    "serve", "config_cmd", "cost", "probe", "status", "dashboard", "simulate", "keys_cmd",
    "usage",
)  # fmt: skip


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


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser | None = action.choices.get(name)
            return found
    return None


def unknown_option(
    parser: argparse.ArgumentParser, argv: Sequence[str]
) -> tuple[argparse.ArgumentParser, str] | None:
    """The first `--option` that the (sub)command given in `argv` does not know, with the
    parser of that (sub)command.

    argparse reports missing required options before unknown ones, so `cost --bogus` would
    say "--tokens is required" and never name `--bogus`; this names it first."""
    for i, token in enumerate(argv):
        if token == "--":
            return None
        if not token.startswith("-"):
            sub = _subcommand(parser, token)
            if sub is not None:
                return unknown_option(sub, argv[i + 1 :])
            continue
        if token.startswith("--"):
            name = token.split("=", 1)[0]
            known = parser._option_string_actions
            if name not in known and not any(opt.startswith(name) for opt in known):
                return parser, name
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    unknown = unknown_option(parser, argv)
    if unknown is not None:
        owner, name = unknown
        owner.error(f"unrecognized arguments: {name}")
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
    except BrokenPipeError:  # `edge-router status | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
