"""What a request cost: the pricing table applied to an answer's `usage` (SPEC §3, §4, §8).

Used on the request path (`x-edge-cost-usd`, the `CostUSD` metric, the `Model` metric
dimension), so a `PriceBook` is built once per `Config` and resolves each model name once.
Amounts are `Decimal`, so the header string is exact rather than a float's approximation.

Which pricing entry a model name uses (`price_key`), first match wins:

1. the exact name, then the name lower-cased (`GPT-4.1` -> `gpt-4.1`);
2. a provider prefix dropped: `openai/gpt-4.1` -> `gpt-4.1` (OpenRouter/LiteLLM style names);
3. a date suffix dropped: `-YYYY-MM-DD` (`gpt-4.1-2025-04-14`), `-YYYYMMDD`
   (`claude-sonnet-4.5-20250929`) or `@YYYYMMDD` (Vertex style) -> the undated name;
   2 and 3 combine (`anthropic/claude-sonnet-4.5-20250929`).

Nothing else folds: `gpt-4.1-mini` is not `gpt-4.1` (a different, cheaper model), and a preview
suffix such as `gemini-2.5-flash-preview-05-20` stays unknown. Unknown models have no cost
(`None`: no header, no `CostUSD`) and count under the metric model `other`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Protocol

__all__ = [
    "OTHER_MODEL",
    "PriceBook",
    "PriceLike",
    "format_usd",
    "price_key",
    "request_cost",
]

#: The metric `Model` dimension for models outside the pricing table (SPEC §8).
OTHER_MODEL = "other"

#: Costs are rounded to a ten-billionth of a dollar: at $0.01 per million tokens one token costs
#: 1e-8 USD, so this keeps two significant digits for the cheapest token anyone sells.
USD_QUANTUM = Decimal("1e-10")

#: Token counts above this (per request) are not believed: an upstream's garbage must not make
#: a header of thirty digits or an arithmetic error on the request path.
MAX_TOKENS = 10**12

_DATE_SUFFIX = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8})$")
#: A model name from a client is arbitrary text; past this many distinct names new ones are
#: resolved every time instead of cached, so junk names cannot grow memory without bound.
_CACHE_LIMIT = 4096


class PriceLike(Protocol):
    """A pricing entry (`config.model.Price`): USD per million tokens."""

    @property
    def input(self) -> float: ...

    @property
    def output(self) -> float: ...


def _candidates(model: str) -> list[str]:
    names = [model, model.lower()]
    for name in list(names):
        if "/" in name:
            names.append(name.rsplit("/", 1)[1])
    for name in list(names):
        undated = _DATE_SUFFIX.sub("", name)
        if undated != name:
            names.append(undated)
    return names


def _fold_table(keys: list[str]) -> dict[str, str]:
    """Lower-cased key -> key, so matching ignores case (an exact key wins over a folded one)."""
    folded: dict[str, str] = {}
    for key in keys:
        folded.setdefault(key.lower(), key)
    return folded


def _resolve(model: str, keys: Mapping[str, object], folded: Mapping[str, str]) -> str | None:
    if model in keys:
        return model
    for name in _candidates(model):
        if name in keys:
            return name
        if name in folded:
            return folded[name]
    return None


def price_key(model: str, pricing: Mapping[str, PriceLike]) -> str | None:
    """The `pricing` key that prices `model` (rules in the module docstring), or None.

    >>> price_key("gpt-4.1-2025-04-14", {"gpt-4.1": price})   # -> "gpt-4.1"
    >>> price_key("openai/gpt-4.1", {"gpt-4.1": price})       # -> "gpt-4.1"
    >>> price_key("gpt-4.1-mini", {"gpt-4.1": price})         # -> None
    """
    return _resolve(model, pricing, _fold_table(list(pricing)))


def _dec(value: float) -> Decimal:
    # str() first: Decimal(0.42) would carry the binary float's 50-odd digits into the header.
    return Decimal(str(value))


def _cost(prompt: int, completion: int, per_m_in: Decimal, per_m_out: Decimal) -> Decimal | None:
    try:
        return (prompt * per_m_in + completion * per_m_out).scaleb(-6).quantize(USD_QUANTUM)
    except InvalidOperation:  # an absurd price (1e30 USD per MTok) overflows the precision
        return None


def _count(value: object) -> int | None:
    """A token count from `usage`, or None unless it is an integer in 0..MAX_TOKENS."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS:
        return value
    return None


def request_cost(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    pricing: Mapping[str, PriceLike],
) -> Decimal | None:
    """USD for one request, or None for an unknown model or a token count outside 0..MAX_TOKENS.

    >>> request_cost("gpt-4.1", 1000, 500, {"gpt-4.1": Price(input=8, output=8)})
    Decimal('0.0120000000')     # format_usd() -> "0.012"
    """
    key = price_key(model, pricing)
    prompt, completion = _count(prompt_tokens), _count(completion_tokens)
    if key is None or prompt is None or completion is None:
        return None
    price = pricing[key]
    return _cost(prompt, completion, _dec(price.input), _dec(price.output))


def format_usd(amount: Decimal) -> str:
    """`amount` as a plain decimal string for `x-edge-cost-usd`: no exponent, no trailing zeros.

    Rounded to `USD_QUANTUM` first: `Decimal("0.000123000")` -> `"0.000123"`,
    `Decimal("116.50")` -> `"116.5"`, `Decimal("8.00")` -> `"8"`, `Decimal(0)` -> `"0"`.
    """
    with contextlib.suppress(InvalidOperation):  # too many digits to round: print unrounded
        amount = amount.quantize(USD_QUANTUM)
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class PriceBook:
    """The pricing table of one `Config`, resolved once per model name.

    >>> book = PriceBook(config.pricing)
    >>> book.cost("gpt-4.1-2025-04-14", {"prompt_tokens": 1000, "completion_tokens": 500})
    Decimal('0.0120000000')
    >>> book.cost("text-embedding-3-small", {"prompt_tokens": 8, "total_tokens": 8})   # None
    >>> book.metric_model("gpt-4.1-2025-04-14"), book.metric_model("llama-3")
    ('gpt-4.1', 'other')
    """

    __slots__ = ("_cache", "_folded", "_prices")

    def __init__(self, pricing: Mapping[str, PriceLike]) -> None:
        self._prices: dict[str, tuple[Decimal, Decimal]] = {
            key: (_dec(price.input), _dec(price.output)) for key, price in pricing.items()
        }
        self._folded = _fold_table(list(self._prices))
        self._cache: dict[str, str | None] = {}

    @property
    def models(self) -> tuple[str, ...]:
        """The pricing keys, in table order."""
        return tuple(self._prices)

    def key(self, model: str) -> str | None:
        """`price_key(model, pricing)`, cached."""
        try:
            return self._cache[model]
        except KeyError:
            pass
        key = _resolve(model, self._prices, self._folded)
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[model] = key
        return key

    def price(self, key: str) -> tuple[Decimal, Decimal]:
        """(input, output) USD per million tokens of a pricing key; KeyError if unknown."""
        return self._prices[key]

    def metric_model(self, model: str) -> str:
        """The metric `Model` dimension: the pricing key, or `other` (SPEC §8)."""
        return self.key(model) or OTHER_MODEL

    def cost(self, model: str, usage: Mapping[str, object]) -> Decimal | None:
        """USD for an answer's `usage` object, or None when the model or the usage is unknown.

        Reads `prompt_tokens` and `completion_tokens` (absent = 0: embeddings have none);
        without `prompt_tokens`, `total_tokens - completion_tokens` stands in for it.
        Counts that are not non-negative integers make the usage unknown rather than guessed.
        """
        key = self.key(model)
        if key is None:
            return None
        raw_completion = usage.get("completion_tokens")
        completion = 0 if raw_completion is None else _count(raw_completion)
        raw_prompt = usage.get("prompt_tokens")
        if raw_prompt is None:
            total = _count(usage.get("total_tokens"))
            prompt = None
            if total is not None and completion is not None and total >= completion:
                prompt = total - completion
        else:
            prompt = _count(raw_prompt)
        if prompt is None or completion is None:
            return None
        per_m_in, per_m_out = self._prices[key]
        return _cost(prompt, completion, per_m_in, per_m_out)
