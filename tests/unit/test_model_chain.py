"""Model fallbacks as pure functions (`routing/chain.py`): the chain a request may walk, and
when it moves on — on the fake clock, since one deadline covers the whole chain."""

from __future__ import annotations

import pytest

from edge_router.clock import FakeClock
from edge_router.routing.chain import Ending, model_chain, next_model

FALLBACKS = {"gpt-4.1": ["claude-sonnet-4.5", "gemini-2.5-flash"],
             "claude-sonnet-4.5": ["deepseek-v3.2", "gpt-4.1"]}


def test_the_chain_is_the_model_then_its_fallbacks() -> None:
    assert model_chain("gpt-4.1", FALLBACKS, max_fallbacks=2) == (
        "gpt-4.1", "claude-sonnet-4.5", "gemini-2.5-flash")
    assert model_chain("gemini-2.5-flash", FALLBACKS, max_fallbacks=2) == ("gemini-2.5-flash",)


def test_fallbacks_of_fallbacks_breadth_first_without_loops() -> None:
    # claude falls back to gpt-4.1, which falls back to claude: each appears once
    assert model_chain("claude-sonnet-4.5", FALLBACKS, max_fallbacks=5) == (
        "claude-sonnet-4.5", "deepseek-v3.2", "gpt-4.1", "gemini-2.5-flash")
    assert model_chain("a", {"a": ["b"], "b": ["a"]}, max_fallbacks=9) == ("a", "b")
    assert model_chain("a", {"a": ["a", "a"]}, max_fallbacks=9) == ("a",)


@pytest.mark.parametrize(("cap", "length"), [(0, 1), (1, 2), (2, 3), (3, 4), (10, 4)])
def test_max_model_fallbacks_caps_the_chain(cap: int, length: int) -> None:
    assert len(model_chain("claude-sonnet-4.5", FALLBACKS, max_fallbacks=cap)) == length


@pytest.mark.parametrize("ending", [Ending.FAILED, Ending.UNAVAILABLE, Ending.RATE_LIMITED,
                                    Ending.NOT_SERVED])
def test_moves_on_after_502_503_and_all_429(ending: Ending) -> None:
    clock = FakeClock()
    deadline = clock.monotonic() + 25.0
    chain = ("a", "b", "c")
    assert next_model(chain, 0, ending, now=clock.monotonic(), deadline=deadline) == 1
    assert next_model(chain, 1, ending, now=clock.monotonic(), deadline=deadline) == 2
    assert next_model(chain, 2, ending, now=clock.monotonic(), deadline=deadline) is None


@pytest.mark.parametrize("ending", [Ending.ANSWERED, Ending.DEADLINE])
def test_never_after_a_passed_through_4xx_or_the_deadline(ending: Ending) -> None:
    clock = FakeClock()
    assert next_model(("a", "b"), 0, ending, now=clock.monotonic(),
                      deadline=clock.monotonic() + 25.0) is None


def test_one_deadline_for_the_whole_chain() -> None:
    # GIVEN a request that started with a 25 s deadline
    clock = FakeClock()
    deadline = clock.monotonic() + 25.0
    chain = ("a", "b", "c")
    # WHEN the first model fails after 10 s, it moves on
    clock.advance(10.0)
    assert next_model(chain, 0, Ending.FAILED, now=clock.monotonic(), deadline=deadline) == 1
    # THEN the second, failing 15 s later, finds the deadline spent: no third model
    clock.advance(15.0)
    assert next_model(chain, 1, Ending.FAILED, now=clock.monotonic(), deadline=deadline) is None
