"""Monthly cost of a token volume spread over a model mix (`edge-router cost`, SPEC §9).

Pure: parse the command's arguments (`parse_tokens`, `parse_mix`, `parse_output_share`, each
raising `CostInputError` with a message fit for the user) and compute an `Estimate` from a
`PriceBook`. Input and output tokens are priced separately: of a model's tokens, the share
`output_share` are output tokens and the rest input tokens. Token counts per model may come out
fractional (10 tokens at 33 %); they are kept exact for the arithmetic and rounded only for display.

Worked example, the tutorial's scenario A at SPEC prices (same price in and out), 10M tokens:
Sonnet 60 % x $15 + GPT-4.1 30 % x $8 + Flash 10 % x $2.50 = 90 + 24 + 2.50 = $116.50.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .pricing import PriceBook

__all__ = [
    "CostInputError",
    "Estimate",
    "EstimateLine",
    "estimate",
    "parse_mix",
    "parse_output_share",
    "parse_tokens",
]

#: More tokens than anyone buys in a month; beyond it the input is a typo (`1e99`).
MAX_TOKENS = 10**15
_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9}
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+(?:_\d+)*)(?:\.\d+)?(?:e\+?\d+)?"
_TOKENS = re.compile(rf"^\s*({_NUMBER})\s*([kmb]?)\s*$", re.IGNORECASE)
_HUNDRED = Decimal(100)


class CostInputError(ValueError):
    """A user error in the cost command's input; the message says what is wrong."""


def parse_tokens(text: str) -> int:
    """`10M`, `500k`, `2.5B`, `1e6`, `10_000_000`, `10,000,000` -> a positive whole token count."""
    hint = "examples: 10M, 500k, 2.5B, 1e6, 1000000"
    match = _TOKENS.match(text)
    if not match:
        raise CostInputError(f"--tokens: {text!r} is not a token count ({hint})")
    number, suffix = match.groups()
    try:
        value = Decimal(number.replace(",", "").replace("_", "")) * _SUFFIXES[suffix.lower()]
    except ArithmeticError as exc:  # an exponent past the decimal context: Overflow, Invalid…
        raise CostInputError(f"--tokens: {text!r} is too large (at most 1e15)") from exc
    if value > MAX_TOKENS:
        raise CostInputError(f"--tokens: {text!r} is too large (at most 1e15)")
    if value != value.to_integral_value():
        raise CostInputError(f"--tokens: {text!r} is not a whole number of tokens")
    if value <= 0:
        raise CostInputError(f"--tokens: {text!r} must be more than zero")
    return int(value)


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip().removesuffix("%"))
    except InvalidOperation:
        return None
    # Shares are at most 100 and output shares at most 1: a huge exponent is a typo, and would
    # overflow the decimal context when summed.
    return value if value.is_finite() and value.adjusted() < 10 else None


def parse_mix(text: str) -> dict[str, Decimal]:
    """`model=60,model=30,…` -> {model: percent}; the percentages must sum to exactly 100."""
    mix: dict[str, Decimal] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        model, sep, share_text = part.partition("=")
        model = model.strip()
        share = _decimal(share_text) if sep else None
        if not model or share is None:
            raise CostInputError(f"--mix: {part.strip()!r} is not MODEL=PERCENT (e.g. gpt-4.1=30)")
        if share < 0:
            raise CostInputError(f"--mix: {model}: the share must not be negative")
        if model in mix:
            raise CostInputError(f"--mix: {model} appears twice")
        mix[model] = share
    if not mix:
        raise CostInputError("--mix: no models given (e.g. claude-sonnet-4.5=60,gpt-4.1=40)")
    total = sum(mix.values(), Decimal(0))
    if total != _HUNDRED:
        raise CostInputError(f"--mix: the shares must sum to 100, they sum to {_plain(total)}")
    return mix


def parse_output_share(text: str) -> Decimal:
    """`0.4` -> Decimal('0.4'): the share of output tokens, from 0 to 1."""
    value = _decimal(text)
    if value is None or not Decimal(0) <= value <= Decimal(1):
        raise CostInputError(
            f"--output-share: {text!r} must be a number from 0 to 1 (e.g. 0.4 for 40 % output)"
        )
    return value


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True, slots=True)
class EstimateLine:
    """One model of the mix. Token counts are exact (possibly fractional); amounts in USD."""

    model: str
    price_key: str
    share_percent: Decimal
    input_tokens: Decimal
    output_tokens: Decimal
    input_price: Decimal  # USD per million input tokens
    output_price: Decimal
    input_usd: Decimal
    output_usd: Decimal

    @property
    def total_usd(self) -> Decimal:
        return self.input_usd + self.output_usd


@dataclass(frozen=True, slots=True)
class Estimate:
    tokens: int
    output_share: Decimal
    lines: tuple[EstimateLine, ...]

    @property
    def input_tokens(self) -> Decimal:
        return sum((line.input_tokens for line in self.lines), Decimal(0))

    @property
    def output_tokens(self) -> Decimal:
        return sum((line.output_tokens for line in self.lines), Decimal(0))

    @property
    def input_usd(self) -> Decimal:
        return sum((line.input_usd for line in self.lines), Decimal(0))

    @property
    def output_usd(self) -> Decimal:
        return sum((line.output_usd for line in self.lines), Decimal(0))

    @property
    def total_usd(self) -> Decimal:
        return self.input_usd + self.output_usd


def estimate(
    tokens: int, mix: Mapping[str, Decimal], *, output_share: Decimal, book: PriceBook
) -> Estimate:
    """The cost of `tokens` spread over `mix` (percent per model) at the book's prices.

    A model name resolves as on the request path (`gpt-4.1-2025-04-14` prices as `gpt-4.1`);
    an unknown one raises `CostInputError` listing the known ones.
    """
    unknown = [model for model in mix if book.key(model) is None]
    if unknown:
        raise CostInputError(
            f"--mix: no price for {', '.join(unknown)}; "
            f"known models: {', '.join(sorted(book.models))} (add more under `pricing:` in --config)"
        )
    lines = []
    for model, share in mix.items():
        key = book.key(model)
        assert key is not None  # checked above
        per_m_in, per_m_out = book.price(key)
        model_tokens = tokens * share / _HUNDRED
        out_tokens = model_tokens * output_share
        in_tokens = model_tokens - out_tokens
        lines.append(
            EstimateLine(
                model=model,
                price_key=key,
                share_percent=share,
                input_tokens=in_tokens,
                output_tokens=out_tokens,
                input_price=per_m_in,
                output_price=per_m_out,
                input_usd=in_tokens * per_m_in / 1_000_000,
                output_usd=out_tokens * per_m_out / 1_000_000,
            )
        )
    return Estimate(tokens=tokens, output_share=output_share, lines=tuple(lines))
