"""Model fallbacks (SPEC §12), pure: which models a request may try, and whether to move on.

`model_chain` expands `model_fallbacks` for a requested model: the model first, then its
fallbacks in order, then (breadth first) theirs, each model at most once, so `{a: [b], b: [a]}`
is a chain `a, b` rather than a loop; `routing.max_model_fallbacks` caps how many follow the
first. `next_model` decides, when the attempts for one model have ended, whether the request is
re-sent for the next one: only after a 502, a 503 or an all-429 (the upstreams failed, are
open, or are rate-limited), never after a passed-through 4xx (the client's request is at fault,
another model will not fix it) nor after the deadline (there is no time left: one deadline
covers the whole chain, and so does one retry budget, spent by the caller).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence


class Ending(enum.Enum):
    """How the attempts for one model of the chain ended."""

    ANSWERED = "answered"  # a 2xx, or a 4xx passed through: the request is done
    FAILED = "failed"  # 502: attempts exhausted with failures
    UNAVAILABLE = "unavailable"  # 503: every circuit open
    RATE_LIMITED = "rate_limited"  # 429: every attempt rate-limited, or every upstream marked
    NOT_SERVED = "not_served"  # no upstream serves this model (a fallback's, skipped)
    DEADLINE = "deadline"  # 504: the request's deadline passed


#: Endings after which the next model of the chain is tried.
MOVES_ON = frozenset({Ending.FAILED, Ending.UNAVAILABLE, Ending.RATE_LIMITED, Ending.NOT_SERVED})


def model_chain(
    model: str, fallbacks: Mapping[str, Sequence[str]], *, max_fallbacks: int
) -> tuple[str, ...]:
    """`model`, then up to `max_fallbacks` distinct fallbacks (breadth first, no repeats)."""
    chain = [model]
    position = 0
    while position < len(chain) and len(chain) <= max_fallbacks:
        for fallback in fallbacks.get(chain[position], ()):
            if fallback not in chain:
                chain.append(fallback)
                if len(chain) > max_fallbacks:
                    break
        position += 1
    return tuple(chain)


def next_model(
    chain: Sequence[str], position: int, ending: Ending, *, now: float, deadline: float
) -> int | None:
    """The position of the model to try next after `chain[position]` ended with `ending`, or
    None when the request ends here. `now` and `deadline` are on the same monotonic clock."""
    if ending not in MOVES_ON or now >= deadline:
        return None
    following = position + 1
    return following if following < len(chain) else None
