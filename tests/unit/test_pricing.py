"""Pricing: model-name folding, per-request cost as exact decimals, the header format."""

from __future__ import annotations

from decimal import Decimal

import pytest

from edge_router.config import build_config
from edge_router.config.model import Price
from edge_router.pricing import PriceBook, format_usd, price_key, request_cost

SPEC = {
    "gpt-4.1": Price(input=8.00, output=8.00),
    "claude-sonnet-4.5": Price(input=15.00, output=15.00),
    "gemini-2.5-flash": Price(input=2.50, output=2.50),
    "deepseek-v3.2": Price(input=0.42, output=0.42),
}


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("gpt-4.1", "gpt-4.1"),
        ("gpt-4.1-2025-04-14", "gpt-4.1"),
        ("claude-sonnet-4.5-20250929", "claude-sonnet-4.5"),
        ("claude-sonnet-4.5@20250929", "claude-sonnet-4.5"),
        ("openai/gpt-4.1", "gpt-4.1"),
        ("anthropic/claude-sonnet-4.5-20250929", "claude-sonnet-4.5"),
        ("GPT-4.1", "gpt-4.1"),
        # Not the same model, or not a date: no folding.
        ("gpt-4.1-mini", None),
        ("gpt-4.1-mini-2025-04-14", None),
        ("gemini-2.5-flash-preview-05-20", None),
        ("gpt-4", None),
        ("gpt-4.1-2025", None),
        ("", None),
    ],
)
def test_price_key_folds_dates_prefixes_and_case_only(model: str, key: str | None) -> None:
    assert price_key(model, SPEC) == key
    assert PriceBook(SPEC).key(model) == key


def test_exact_key_wins_over_folding() -> None:
    # GIVEN a table that prices a dated snapshot on its own
    table = {**SPEC, "gpt-4.1-2025-04-14": Price(input=1, output=2)}
    # THEN that snapshot uses its own entry, other dates still fold to the base
    assert price_key("gpt-4.1-2025-04-14", table) == "gpt-4.1-2025-04-14"
    assert price_key("gpt-4.1-2025-09-01", table) == "gpt-4.1"


def test_request_cost_is_exact_and_prices_input_and_output_separately() -> None:
    table = {"m": Price(input=3, output=15)}
    # 1,000 in x $3/M + 500 out x $15/M = 0.003 + 0.0075
    assert request_cost("m", 1000, 500, table) == Decimal("0.0105")
    assert request_cost("gpt-4.1-2025-04-14", 1000, 500, SPEC) == Decimal("0.012")
    # 0.42 must not turn into 0.41999999999999998445…
    assert format_usd(request_cost("deepseek-v3.2", 1, 0, SPEC) or Decimal(-1)) == "0.00000042"
    assert request_cost("llama-3", 1000, 500, SPEC) is None
    assert request_cost("gpt-4.1", -1, 5, SPEC) is None


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("0.000123000"), "0.000123"),
        (Decimal("116.50"), "116.5"),
        (Decimal("8.00"), "8"),
        (Decimal("100"), "100"),
        (Decimal("1E+2"), "100"),
        (Decimal("4.2E-7"), "0.00000042"),
        (Decimal("0"), "0"),
        (Decimal("0E-10"), "0"),
        (Decimal("0.00000000001"), "0"),  # below the 1e-10 quantum
        (Decimal("0.00000000005"), "0"),  # half-even
        (Decimal("0.00000000015"), "0.0000000002"),
    ],
)
def test_format_usd_plain_decimal_without_exponent(amount: Decimal, text: str) -> None:
    assert format_usd(amount) == text


def test_price_book_reads_usage_objects() -> None:
    book = PriceBook(SPEC)
    chat = {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500}
    assert book.cost("claude-sonnet-4.5", chat) == Decimal("0.0225")  # 1500 x 15 / 1M
    # Embeddings: prompt_tokens and total_tokens only.
    assert book.cost("gpt-4.1", {"prompt_tokens": 8, "total_tokens": 8}) == Decimal("0.000064")
    # Only total_tokens: all of it is prompt.
    assert book.cost("gpt-4.1", {"total_tokens": 10}) == Decimal("0.00008")
    # Different input and output prices are applied to the right counts.
    book2 = PriceBook({"m": Price(input=3, output=15)})
    assert book2.cost("m", {"prompt_tokens": 0, "completion_tokens": 1_000_000}) == Decimal(15)
    assert book2.cost("m", {"prompt_tokens": 1_000_000, "completion_tokens": 0}) == Decimal(3)


@pytest.mark.parametrize(
    "usage",
    [
        {},
        {"completion_tokens": 5},
        {"prompt_tokens": "10", "completion_tokens": 5},
        {"prompt_tokens": 10.5, "completion_tokens": 5},
        {"prompt_tokens": True, "completion_tokens": 5},
        {"prompt_tokens": -1, "completion_tokens": 5},
        {"prompt_tokens": 10, "completion_tokens": -5},
        {"total_tokens": 3, "completion_tokens": 5},
        {"prompt_tokens": 10**40, "completion_tokens": 0},
    ],
)
def test_price_book_refuses_to_guess_from_bad_usage(usage: dict[str, object]) -> None:
    assert PriceBook(SPEC).cost("gpt-4.1", usage) is None


def test_price_book_unknown_model_and_metric_dimension() -> None:
    book = PriceBook(SPEC)
    assert book.cost("llama-3", {"prompt_tokens": 10, "completion_tokens": 5}) is None
    assert book.metric_model("gpt-4.1-2025-04-14") == "gpt-4.1"
    assert book.metric_model("openai/gpt-4.1") == "gpt-4.1"
    assert book.metric_model("llama-3") == "other"
    assert book.models == tuple(SPEC)


def test_price_book_cache_is_bounded_and_still_answers() -> None:
    book = PriceBook(SPEC)
    for i in range(5000):
        assert book.key(f"junk-{i}") is None
    assert len(book._cache) <= 4096
    assert book.key("gpt-4.1-2025-04-14") == "gpt-4.1"  # resolved even when the cache is full
    assert book.metric_model("gpt-4.1-2025-04-14") == "gpt-4.1"


def test_price_book_from_config_merges_user_prices_over_defaults() -> None:
    config = build_config(
        {"pricing": {"gpt-4.1": {"input": 2, "output": 8}, "x": {"input": 1, "output": 1}}}
    )
    book = PriceBook(config.pricing)
    # 1M in at $2 + 1M out at $8
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}
    assert book.cost("gpt-4.1", usage) == Decimal(10)
    assert book.cost("deepseek-v3.2", usage) == Decimal("0.84")  # default kept
    assert book.metric_model("x") == "x"
