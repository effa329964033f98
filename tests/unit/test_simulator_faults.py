"""The simulator's fault grammar and its per-request decision (pure: no sockets)."""

from __future__ import annotations

import random

import pytest

from edge_router.simulator import Fault, FaultError, parse_fault
from edge_router.simulator.faults import OK, ActiveFault, draw


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("ok", Fault("ok", text="ok")),
        ("status:503", Fault("status", 503.0, text="status:503")),
        (
            "status:429,retry_after=2,retry_after_ms=1500",
            Fault(
                "status",
                429.0,
                retry_after=2.0,
                retry_after_ms=1500.0,
                text="status:429,retry_after=2,retry_after_ms=1500",
            ),
        ),
        ("delay:2.5", Fault("delay", 2.5, text="delay:2.5")),
        ("hang", Fault("hang", text="hang")),
        ("reset,rate=0.3", Fault("reset", rate=0.3, text="reset,rate=0.3")),
        ("cut", Fault("cut", text="cut")),
        ("cut:0,count=1", Fault("cut", 0.0, count=1, text="cut:0,count=1")),
        ("html", Fault("html", text="html")),
        ("html:200", Fault("html", 200.0, text="html:200")),
        ("truncated", Fault("truncated", text="truncated")),
        ("stall,count=2", Fault("stall", count=2, text="stall,count=2")),
        ("trickle:0.01", Fault("trickle", 0.01, text="trickle:0.01")),
        ("refuse", Fault("refuse", text="refuse")),
        (" Status:502 , rate=0.5 ", Fault("status", 502.0, rate=0.5, text="Status:502,rate=0.5")),
    ],
)
def test_parse_accepts_every_mode(spec: str, expected: Fault) -> None:
    assert parse_fault(spec) == expected


def test_derived_values_have_documented_defaults() -> None:
    assert parse_fault("html").status == 502
    assert parse_fault("html:200").status == 200
    assert parse_fault("status:418").status == 418
    assert parse_fault("trickle").seconds == 0.05
    assert parse_fault("delay:1.5").seconds == 1.5
    assert parse_fault("cut").events_before_cut == 2
    assert parse_fault("cut:5").events_before_cut == 5


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("explode", "unknown fault mode 'explode'"),
        ("", "unknown fault mode ''"),
        ("status", "status: needs an argument"),
        ("delay", "delay: needs an argument"),
        ("status:abc", "status code: expected an integer"),
        ("status:200", "status code: must be 300-599"),
        ("status:304", "status code: must be 300-599 and not 304"),
        ("status:600", "status code: must be 300-599"),
        ("html:199", "html code: must be 200-599"),
        ("delay:-1", "delay seconds: expected a non-negative number"),
        ("delay:nan", "delay seconds: expected a non-negative number"),
        ("trickle:0", "trickle seconds: must be > 0"),
        ("cut:-1", "cut events: must be >= 0"),
        ("hang:3", "hang: takes no argument"),
        ("reset,rate=0", "rate: must be in (0, 1]"),
        ("reset,rate=1.5", "rate: must be in (0, 1]"),
        ("reset,count=0", "count: must be >= 1"),
        ("reset,count=two", "count: expected an integer"),
        ("reset,rate", "'rate': expected key=value"),
        ("reset,retry_after=1", "retry_after: not a key of reset"),
        ("status:503,colour=red", "colour: not a key of status"),
        ("status:503,count=1,count=2", "count: given twice"),
        ("ok,count=1", "count: not a key of ok (allowed: none)"),
        ("refuse,rate=0.5", "rate: not a key of refuse"),
    ],
)
def test_parse_rejects_with_a_message_naming_the_part(spec: str, message: str) -> None:
    with pytest.raises(FaultError) as info:
        parse_fault(spec)
    assert message in str(info.value)


def test_no_fault_never_fires() -> None:
    active = ActiveFault()
    for _ in range(10):
        fault, active = draw(active, random.Random(0))
        assert fault is None
    assert active == ActiveFault(OK, None)


def test_plain_fault_fires_every_time_without_consuming_randomness() -> None:
    # GIVEN a fault with no modifiers and a random source we can watch
    rng = random.Random(7)
    before = rng.getstate()
    active = ActiveFault.of(parse_fault("status:503"))
    # WHEN it is drawn many times
    hits = 0
    for _ in range(20):
        fault, active = draw(active, rng)
        hits += fault is not None
    # THEN it always fires, and the seeded sequence is untouched (rate= draws stay reproducible)
    assert hits == 20
    assert rng.getstate() == before


def test_count_applies_to_the_next_n_requests_then_back_to_ok() -> None:
    active = ActiveFault.of(parse_fault("status:503,count=2"))
    assert active.remaining == 2
    outcomes = []
    for _ in range(4):
        fault, active = draw(active, random.Random(0))
        outcomes.append(fault.mode if fault else None)
    assert outcomes == ["status", "status", None, None]
    assert active.fault.mode == "ok"


def test_rate_applies_to_about_that_share_and_is_reproducible() -> None:
    def run(seed: int) -> list[bool]:
        rng = random.Random(seed)
        active = ActiveFault.of(parse_fault("reset,rate=0.3"))
        fired = []
        for _ in range(2000):
            fault, active = draw(active, rng)
            fired.append(fault is not None)
        return fired

    first = run(1)
    assert 0.25 < sum(first) / len(first) < 0.35
    assert run(1) == first
    assert run(2) != first


def test_rate_and_count_together_end_after_n_hits() -> None:
    rng = random.Random(3)
    active = ActiveFault.of(parse_fault("status:500,rate=0.5,count=3"))
    hits = requests = 0
    while active.fault.mode != "ok":
        fault, active = draw(active, rng)
        requests += 1
        hits += fault is not None
        assert requests < 100
    assert hits == 3
    assert requests > 3  # some requests were spared on the way
