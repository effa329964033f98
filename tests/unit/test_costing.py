"""Monthly cost math and argument parsing for `edge-router cost` (no I/O)."""

from __future__ import annotations

from decimal import Decimal
from decimal import Decimal as D

import pytest

from edge_router.config.model import Price
from edge_router.costing import (
    CostInputError,
    estimate,
    parse_mix,
    parse_output_share,
    parse_tokens,
)
from edge_router.pricing import PriceBook

SPEC_BOOK = PriceBook(
    {
        "gpt-4.1": Price(input=8.00, output=8.00),
        "claude-sonnet-4.5": Price(input=15.00, output=15.00),
        "gemini-2.5-flash": Price(input=2.50, output=2.50),
        "deepseek-v3.2": Price(input=0.42, output=0.42),
    }
)
TEN_M = 10_000_000
FORTY = Decimal("0.4")


@pytest.mark.parametrize(
    ("mix", "total"),
    [
        # A: 6M x $15 + 3M x $8 + 1M x $2.50 = 90 + 24 + 2.50
        ("claude-sonnet-4.5=60,gpt-4.1=30,gemini-2.5-flash=10", "116.50"),
        # B: 7M x $0.42 + 2M x $2.50 + 1M x $15 = 2.94 + 5 + 15
        ("deepseek-v3.2=70,gemini-2.5-flash=20,claude-sonnet-4.5=10", "22.94"),
        # C: 5M x $8 + 4M x $15 + 1M x $0.42 = 40 + 60 + 0.42
        ("gpt-4.1=50,claude-sonnet-4.5=40,deepseek-v3.2=10", "100.42"),
        # D: 5M x $0.42 + 3M x $2.50 + 2M x $8 = 2.10 + 7.50 + 16
        ("deepseek-v3.2=50,gemini-2.5-flash=30,gpt-4.1=20", "25.60"),
    ],
)
def test_tutorial_scenarios_at_spec_prices(mix: str, total: str) -> None:
    # The tutorial's own totals ($1,467.50, $312.50, …) do not follow from its prices; SPEC wins.
    result = estimate(TEN_M, parse_mix(mix), output_share=FORTY, book=SPEC_BOOK)
    assert result.total_usd == Decimal(total)
    # Same price in and out, so the output share only moves money between the two columns.
    assert result.output_usd == Decimal(total) * FORTY
    assert result.input_tokens == 6_000_000 and result.output_tokens == 4_000_000


def test_scenario_a_breakdown_per_model() -> None:
    mix = parse_mix("claude-sonnet-4.5=60,gpt-4.1=30,gemini-2.5-flash=10")
    result = estimate(TEN_M, mix, output_share=FORTY, book=SPEC_BOOK)
    rows = [
        (x.model, x.input_tokens, x.output_tokens, x.input_usd, x.output_usd, x.total_usd)
        for x in result.lines
    ]
    assert rows == [
        ("claude-sonnet-4.5", D(3_600_000), D(2_400_000), D("54"), D("36"), D("90")),
        ("gpt-4.1", D(1_800_000), D(1_200_000), D("14.4"), D("9.6"), D("24")),
        ("gemini-2.5-flash", D(600_000), D(400_000), D("1.5"), D("1"), D("2.5")),
    ]


def test_different_input_and_output_prices() -> None:
    book = PriceBook({"m": Price(input=3, output=15), "n": Price(input=1, output=4)})
    # 10M tokens of m at 40 % output: 6M in x $3 = 18, 4M out x $15 = 60 -> 78
    one = estimate(TEN_M, {"m": Decimal(100)}, output_share=FORTY, book=book)
    assert (one.input_usd, one.output_usd, one.total_usd) == (D(18), D(60), D(78))
    # Half m, half n, 25 % output, 2M tokens:
    # m: 1M -> 750k in x $3 = 2.25, 250k out x $15 = 3.75 -> 6.00
    # n: 1M -> 750k in x $1 = 0.75, 250k out x $4 = 1.00 -> 1.75; total 7.75
    two = estimate(2_000_000, parse_mix("m=50,n=50"), output_share=Decimal("0.25"), book=book)
    assert [x.total_usd for x in two.lines] == [Decimal("6.00"), Decimal("1.75")]
    assert two.total_usd == Decimal("7.75")
    # All output, or all input.
    assert estimate(TEN_M, {"m": Decimal(100)}, output_share=Decimal(1), book=book).total_usd == 150
    assert estimate(TEN_M, {"m": Decimal(100)}, output_share=Decimal(0), book=book).total_usd == 30


def test_dated_model_in_the_mix_prices_as_its_base() -> None:
    mix = {"gpt-4.1-2025-04-14": Decimal(100)}
    result = estimate(1_000_000, mix, output_share=FORTY, book=SPEC_BOOK)
    assert result.lines[0].price_key == "gpt-4.1" and result.total_usd == 8


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(CostInputError) as err:
        estimate(TEN_M, {"llama-3": Decimal(100)}, output_share=FORTY, book=SPEC_BOOK)
    message = str(err.value)
    assert "llama-3" in message
    assert "claude-sonnet-4.5, deepseek-v3.2, gemini-2.5-flash, gpt-4.1" in message


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("10M", 10_000_000),
        ("10m", 10_000_000),
        ("500k", 500_000),
        ("500K", 500_000),
        ("2.5B", 2_500_000_000),
        ("1e6", 1_000_000),
        ("1E+6", 1_000_000),
        ("1.5e3k", 1_500_000),
        ("1000000", 1_000_000),
        ("10_000_000", 10_000_000),
        ("10,000,000", 10_000_000),
        (" 42 ", 42),
        ("1e15", 10**15),
    ],
)
def test_parse_tokens(text: str, tokens: int) -> None:
    assert parse_tokens(text) == tokens


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "not a token count"),
        ("ten", "not a token count"),
        ("10X", "not a token count"),
        ("10MM", "not a token count"),
        ("-5", "not a token count"),
        ("1,5M", "not a token count"),
        ("1e-3", "not a token count"),
        ("1.5", "not a whole number"),
        ("0", "more than zero"),
        ("2e15", "too large"),
        ("1e999999999", "too large"),
    ],
)
def test_parse_tokens_rejects_garbage_clearly(text: str, why: str) -> None:
    with pytest.raises(CostInputError, match=why):
        parse_tokens(text)


def test_parse_mix() -> None:
    assert parse_mix("a=60, b=30 ,c=10") == {"a": 60, "b": 30, "c": 10}
    assert parse_mix("a=33.3,b=33.3,c=33.4") == {
        "a": Decimal("33.3"),
        "b": Decimal("33.3"),
        "c": Decimal("33.4"),
    }
    assert parse_mix("a=60%,b=40%") == {"a": 60, "b": 40}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a=60,b=30", "must sum to 100, they sum to 90"),
        ("a=60,b=50.5", "they sum to 110.5"),
        ("a=33.3,b=33.3,c=33.3", "they sum to 99.9"),
        ("a=60,b", "'b' is not MODEL=PERCENT"),
        ("a=x", "'a=x' is not MODEL=PERCENT"),
        ("=100", "is not MODEL=PERCENT"),
        ("a=nan", "is not MODEL=PERCENT"),
        ("a=-10,b=110", "must not be negative"),
        ("a=50,a=50", "a appears twice"),
        ("", "no models given"),
        (",", "no models given"),
    ],
)
def test_parse_mix_errors(text: str, message: str) -> None:
    with pytest.raises(CostInputError, match=message):
        parse_mix(text)


def test_parse_output_share() -> None:
    assert parse_output_share("0.4") == FORTY
    assert parse_output_share("0") == 0 and parse_output_share("1") == 1
    for bad in ("1.5", "-0.1", "40", "abc", "", "nan"):
        with pytest.raises(CostInputError, match="from 0 to 1"):
            parse_output_share(bad)
