"""`edge-router cost`: monthly cost of a token volume over a model mix, from the pricing table.

    edge-router cost --tokens 10M --mix claude-sonnet-4.5=60,gpt-4.1=30,gemini-2.5-flash=10
    edge-router cost --tokens 2.5B --mix deepseek-v3.2=100 --output-share 0.25 --json

The math is in `edge_router.costing`; this module parses, loads the config and prints.
User errors (bad token count, shares not summing to 100, unknown model, bad config) exit 2 with
the message on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..config import ConfigError, load_config
from ..costing import CostInputError, Estimate, estimate, parse_mix, parse_output_share
from ..costing import parse_tokens as parse_token_count
from ..pricing import PriceBook, format_usd

DEFAULT_OUTPUT_SHARE = "0.4"
_CENT = Decimal("0.01")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "cost",
        help="monthly cost of a token volume over a model mix",
        description="Monthly cost from the pricing table (USD per million tokens), with input "
        "and output tokens priced separately.",
    )
    parser.add_argument("--tokens", required=True, help="tokens per month: 10M, 500k, 2.5B, 1e6")
    parser.add_argument(
        "--mix",
        required=True,
        help="MODEL=PERCENT,… summing to 100, e.g. claude-sonnet-4.5=60,gpt-4.1=30,"
        "gemini-2.5-flash=10",
    )
    parser.add_argument(
        "--output-share",
        default=DEFAULT_OUTPUT_SHARE,
        help=f"share of output tokens, 0..1 (default {DEFAULT_OUTPUT_SHARE})",
    )
    parser.add_argument("--config", help="YAML config whose `pricing:` to use (default built-in)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        tokens = parse_token_count(args.tokens)
        mix = parse_mix(args.mix)
        output_share = parse_output_share(args.output_share)
        config = load_config(args.config, environ=os.environ)
        result = estimate(tokens, mix, output_share=output_share, book=PriceBook(config.pricing))
    except (CostInputError, ConfigError) as exc:
        print(f"edge-router cost: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(to_json(result), indent=2))
    else:
        print(render_table(result))
    return 0


def usd(amount: Decimal) -> str:
    """Dollars for a table: cents with thousands separators; sub-cent amounts not shown as 0."""
    if Decimal(0) < amount < Decimal("0.005"):
        return "$" + format_usd(amount.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))
    return f"${amount.quantize(_CENT, rounding=ROUND_HALF_UP):,}"


def _count(tokens: Decimal) -> str:
    return f"{tokens.quantize(Decimal(1), rounding=ROUND_HALF_UP):,}"


def _percent(share: Decimal) -> str:
    return format_usd(share) + "%"


def _price(value: Decimal) -> str:
    return f"{value:.2f}" if value == value.quantize(_CENT) else format_usd(value)


def render_table(result: Estimate) -> str:
    head = (
        f"Monthly cost of {result.tokens:,} tokens, {_percent(result.output_share * 100)} of them "
        "output; prices in USD per million tokens (in / out)"
    )
    header = ("model", "share", "tokens in", "tokens out", "price in/out", "$ in", "$ out", "total")
    rows = [
        (
            line.model if line.model == line.price_key else f"{line.model} (as {line.price_key})",
            _percent(line.share_percent),
            _count(line.input_tokens),
            _count(line.output_tokens),
            f"{_price(line.input_price)} / {_price(line.output_price)}",
            usd(line.input_usd),
            usd(line.output_usd),
            usd(line.total_usd),
        )
        for line in result.lines
    ]
    total = (
        "total",
        "100%",
        _count(result.input_tokens),
        _count(result.output_tokens),
        "",
        usd(result.input_usd),
        usd(result.output_usd),
        usd(result.total_usd),
    )
    widths = [max(len(row[i]) for row in (header, *rows, total)) for i in range(len(header))]

    def fmt(row: tuple[str, ...]) -> str:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([head, "", fmt(header), rule, *map(fmt, rows), rule, fmt(total)])


def number(amount: Decimal) -> int | float:
    """A decimal as a JSON number: rounded as `x-edge-cost-usd` is (`format_usd`), an integer
    when whole. Every amount here has few enough digits that the float prints back the same."""
    text = format_usd(amount)
    return float(text) if "." in text else int(text)


def to_json(result: Estimate) -> dict[str, Any]:
    """Every amount as a JSON number: token counts as integers (rounded), USD amounts, prices
    and shares as numbers rounded like `x-edge-cost-usd` (to 1e-9 USD)."""
    return {
        "tokens": result.tokens,
        "output_share": number(result.output_share),
        "currency": "USD",
        "models": [
            {
                "model": line.model,
                "price_key": line.price_key,
                "share_percent": number(line.share_percent),
                "input_tokens": round(line.input_tokens),
                "output_tokens": round(line.output_tokens),
                "input_price_per_mtok": number(line.input_price),
                "output_price_per_mtok": number(line.output_price),
                "input_usd": number(line.input_usd),
                "output_usd": number(line.output_usd),
                "total_usd": number(line.total_usd),
            }
            for line in result.lines
        ],
        "input_tokens": round(result.input_tokens),
        "output_tokens": round(result.output_tokens),
        "input_usd": number(result.input_usd),
        "output_usd": number(result.output_usd),
        "total_usd": number(result.total_usd),
    }
