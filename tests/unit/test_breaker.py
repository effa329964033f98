"""The breaker state machine of SPEC §5, driven with explicit times."""

from __future__ import annotations

from edge_router.routing import breaker as br
from edge_router.routing.breaker import Result, State

POLICY = br.Policy(consecutive_failures=3, consecutive_errors=10, cooldown_s=30,
                   max_cooldown_s=300, trial_timeout_s=25)
T0 = 1_000.0


def run(breaker: br.Breaker, results: list[Result], now: float = T0) -> br.Breaker:
    for result in results:
        breaker = br.record(breaker, result, now, POLICY)
    return breaker


def test_three_hard_failures_in_a_row_open_the_circuit() -> None:
    b = run(br.CLOSED, [Result.HARD_FAILURE] * 2)
    assert b.state is State.CLOSED
    b = run(b, [Result.HARD_FAILURE])
    assert b.state is State.OPEN
    assert b.open_until == T0 + 30


def test_soft_errors_need_a_run_of_ten_and_a_short_run_never_opens() -> None:
    b = run(br.CLOSED, [Result.SOFT_FAILURE] * 9)
    assert b.state is State.CLOSED
    assert run(b, [Result.SOFT_FAILURE]).state is State.OPEN


def test_success_ends_both_runs() -> None:
    b = run(br.CLOSED, [Result.HARD_FAILURE] * 2 + [Result.SOFT_FAILURE] * 9 + [Result.SUCCESS])
    assert b == br.CLOSED
    assert run(b, [Result.HARD_FAILURE] * 2).state is State.CLOSED


def test_runs_count_independently() -> None:
    # hard, soft, hard, soft, hard: the hard run reaches three although interleaved
    b = run(br.CLOSED, [Result.HARD_FAILURE, Result.SOFT_FAILURE] * 2 + [Result.HARD_FAILURE])
    assert b.state is State.OPEN


def test_neutral_results_change_nothing() -> None:
    b = run(br.CLOSED, [Result.HARD_FAILURE] * 2 + [Result.NEUTRAL] * 5)
    assert (b.state, b.hard_run) == (State.CLOSED, 2)


def test_open_refuses_then_half_open_admits_exactly_one_trial() -> None:
    b = run(br.CLOSED, [Result.HARD_FAILURE] * 3)
    assert br.admit(b, T0 + 29.9, POLICY) is None
    assert br.current_state(b, T0 + 30) is State.HALF_OPEN
    trial = br.admit(b, T0 + 30, POLICY)
    assert trial is not None and trial.trial_started == T0 + 30
    assert br.admit(trial, T0 + 31, POLICY) is None  # the slot is taken
    # a trial that never reports back frees the slot after trial_timeout_s
    assert br.admit(trial, T0 + 30 + 25, POLICY) is not None


def test_successful_trial_closes_and_resets_cooldown() -> None:
    b = run(br.CLOSED, [Result.HARD_FAILURE] * 3)
    trial = br.admit(b, T0 + 30, POLICY)
    assert trial is not None
    closed = br.record(trial, Result.SUCCESS, T0 + 30.1, POLICY)
    assert closed == br.CLOSED
    reopened = run(closed, [Result.HARD_FAILURE] * 3, now=T0 + 100)
    assert reopened.cooldown_s == 30


def test_failed_trials_double_the_cooldown_up_to_the_cap() -> None:
    b = run(br.CLOSED, [Result.HARD_FAILURE] * 3)
    now = T0
    cooldowns = []
    for _ in range(6):
        now = b.open_until
        trial = br.admit(b, now, POLICY)
        assert trial is not None
        b = br.record(trial, Result.SOFT_FAILURE, now, POLICY)
        assert b.state is State.OPEN
        cooldowns.append(b.cooldown_s)
    assert cooldowns == [60, 120, 240, 300, 300, 300]


def test_neutral_trial_frees_the_slot_without_deciding() -> None:
    b = run(br.CLOSED, [Result.HARD_FAILURE] * 3)
    trial = br.admit(b, T0 + 30, POLICY)
    assert trial is not None
    after = br.record(trial, Result.NEUTRAL, T0 + 31, POLICY)
    assert after.state is State.HALF_OPEN and after.trial_started is None
    assert br.admit(after, T0 + 31, POLICY) is not None


def test_results_that_arrive_while_open_are_ignored() -> None:
    b = run(br.CLOSED, [Result.HARD_FAILURE] * 3)
    assert br.record(b, Result.SUCCESS, T0 + 1, POLICY) == b
    assert br.record(b, Result.HARD_FAILURE, T0 + 1, POLICY) == b


def test_probe_newer_than_the_opening_closes_a_half_open_circuit() -> None:
    b = run(br.CLOSED, [Result.HARD_FAILURE] * 3)
    # still open: a probe does not shorten the cooldown
    assert br.record_probe(b, ok=True, probed_at=T0 + 31, now=T0 + 10) == b
    # half-open, but the probe is older than the opening: no
    assert br.record_probe(b, ok=True, probed_at=T0 + 29, now=T0 + 31) == b
    # half-open and a newer good probe: closed
    assert br.record_probe(b, ok=True, probed_at=T0 + 30.5, now=T0 + 31) == br.CLOSED
    assert br.record_probe(b, ok=False, probed_at=T0 + 30.5, now=T0 + 31) == b
