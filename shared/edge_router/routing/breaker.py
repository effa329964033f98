"""The per-upstream circuit breaker (SPEC §5) as pure functions over a frozen `Breaker`.

Two independent runs open a closed circuit: `consecutive_failures` hard failures in a row
(connect error, reset, timeout before the first byte: the upstream is gone and every attempt costs
time), or `consecutive_errors` failed answers in a row (5xx, 408, 3xx, non-JSON: the upstream
answers fast, with errors). Any success ends both runs. After the cooldown the circuit is
half-open: one trial (or a good probe) closes it and resets the cooldown; a failed trial re-opens
it with the cooldown doubled, capped. A 429 or an attempt cut by our own deadline is neutral, and
results that arrive while the circuit is open are ignored.

`now` is always passed in (epoch seconds), so the machine runs the same under a fake clock.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass


class State(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Result(enum.Enum):
    SUCCESS = "success"  # 2xx, or a passed-through 4xx: the upstream is alive
    HARD_FAILURE = "hard"  # connect error, reset, first-byte timeout
    SOFT_FAILURE = "soft"  # 5xx, 408, 3xx, non-JSON, stream cut
    NEUTRAL = "neutral"  # 429, our own deadline


@dataclass(frozen=True, slots=True)
class Policy:
    consecutive_failures: int = 3
    consecutive_errors: int = 10
    cooldown_s: float = 30.0
    max_cooldown_s: float = 300.0
    #: a half-open trial that never reports back frees the slot after this long
    trial_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Breaker:
    state: State = State.CLOSED
    hard_run: int = 0
    soft_run: int = 0
    open_until: float = 0.0
    cooldown_s: float = 0.0  # the cooldown of the current (or last) opening; 0 = never opened
    trial_started: float | None = None


CLOSED = Breaker()


def current_state(breaker: Breaker, now: float) -> State:
    """The state as an observer sees it: an open circuit past its cooldown is half-open."""
    if breaker.state is State.OPEN and now >= breaker.open_until:
        return State.HALF_OPEN
    return breaker.state


def is_usable(breaker: Breaker, now: float, policy: Policy) -> bool:
    """Whether a request may be sent now: closed, or half-open with the trial slot free."""
    state = current_state(breaker, now)
    if state is State.CLOSED:
        return True
    if state is State.OPEN:
        return False
    return breaker.trial_started is None or now - breaker.trial_started >= policy.trial_timeout_s


def admit(breaker: Breaker, now: float, policy: Policy) -> Breaker | None:
    """The breaker after admitting one request, or None if it must not be sent."""
    if breaker.state is State.CLOSED:
        return breaker
    if not is_usable(breaker, now, policy):
        return None
    return dataclasses.replace(breaker, state=State.HALF_OPEN, trial_started=now)


def _open(breaker: Breaker, now: float, cooldown_s: float) -> Breaker:
    return Breaker(
        state=State.OPEN,
        open_until=now + cooldown_s,
        cooldown_s=cooldown_s,
        hard_run=breaker.hard_run,
        soft_run=breaker.soft_run,
    )


def record(breaker: Breaker, result: Result, now: float, policy: Policy) -> Breaker:
    """The breaker after one attempt's result."""
    if breaker.state is State.OPEN:
        return breaker  # a late result from before the circuit opened: ignored
    if breaker.state is State.HALF_OPEN:
        if result is Result.SUCCESS:
            return CLOSED
        if result is Result.NEUTRAL:
            return dataclasses.replace(breaker, trial_started=None)
        doubled = min(max(breaker.cooldown_s, policy.cooldown_s) * 2, policy.max_cooldown_s)
        return _open(breaker, now, doubled)
    # closed
    if result is Result.SUCCESS:
        return breaker if breaker.hard_run == breaker.soft_run == 0 else CLOSED
    if result is Result.NEUTRAL:
        return breaker
    if result is Result.HARD_FAILURE:
        breaker = dataclasses.replace(breaker, hard_run=breaker.hard_run + 1)
    else:
        breaker = dataclasses.replace(breaker, soft_run=breaker.soft_run + 1)
    if (
        breaker.hard_run >= policy.consecutive_failures
        or breaker.soft_run >= policy.consecutive_errors
    ):
        return _open(breaker, now, policy.cooldown_s)
    return breaker


def record_probe(breaker: Breaker, *, ok: bool, probed_at: float, now: float) -> Breaker:
    """A health-checker probe newer than the local opening closes a half-open circuit."""
    if ok and current_state(breaker, now) is State.HALF_OPEN and probed_at > breaker.open_until:
        return CLOSED
    return breaker
