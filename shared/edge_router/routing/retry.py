"""Retry policy (SPEC §5): full-jitter backoff, `retry-after` parsing and the retry budget.

All pure or self-contained with injected time and randomness.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

DEFAULT_RETRY_AFTER_S = 1.0
#: `routing.retry_after_cap_s`'s default (SPEC §5).
DEFAULT_CAP_S = 300.0


def full_jitter(repeat: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """AWS's "full jitter": uniform in [0, min(cap, base * 2**repeat))."""
    return rng.uniform(0.0, min(cap_s, base_s * (2.0 ** max(repeat, 0))))


#: delta-seconds as ASCII digits, with an optional fraction (`retry-after-ms: 1500.5`); Python's
#: float() would also take `1_000`, `1e308`, `inf` and non-ASCII digits, none of which an HTTP
#: header may carry.
_DELTA = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def _seconds(value: str, *, now: float) -> float | None:
    value = value.strip()
    if _DELTA.fullmatch(value):
        return float(value)
    if not value.isascii() or value[:1].isdigit():
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when.timestamp() - now)


def _raw_retry_after(headers: Mapping[str, str], body: object, *, now: float) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms is not None:
        seconds = _seconds(ms, now=now)
        if seconds is not None:
            return seconds / 1000.0
    header = headers.get("retry-after")
    if header is not None:
        seconds = _seconds(header, now=now)
        if seconds is not None:
            return seconds
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            value = error.get("retry_after")
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                return float(value)
    return None


def retry_after_s(
    headers: Mapping[str, str], body: object, *, now: float, cap_s: float = DEFAULT_CAP_S
) -> float:
    """How long a 429 asks us to wait: `retry-after-ms`, `retry-after` (seconds or HTTP date),
    or the body's `error.retry_after` (seconds); 1 s when none is usable. Clamped to
    [0, `cap_s`] (`routing.retry_after_cap_s`): an upstream asking for a year, or a forged
    answer, must not take it out of rotation for longer than an operator allows."""
    seconds = _raw_retry_after(headers, body, now=now)
    if seconds is None or math.isnan(seconds):
        seconds = DEFAULT_RETRY_AFTER_S
    return min(max(seconds, 0.0), cap_s)  # an endless string of digits is inf: the cap


Buckets = dict[int, list[int]]  # second -> [requests, retries]


def _bucket(buckets: Buckets, now: float, window: int) -> list[int]:
    second = int(now)
    bucket = buckets.get(second)
    if bucket is None:
        horizon = second - window
        for old in [s for s in buckets if s <= horizon]:
            del buckets[old]
        bucket = buckets[second] = [0, 0]
    return bucket


def _totals(buckets: Buckets, now: float, window: int) -> tuple[int, int]:
    horizon = int(now) - window
    requests = retries = 0
    for second, (req, ret) in buckets.items():
        if horizon < second <= int(now):
            requests += req
            retries += ret
    return requests, retries


class RetryBudget:
    """Finagle/Envoy-style retry budget over a sliding window of one-second buckets.

    Within the last `window_s` seconds, retries and failovers together may number at most
    `max(ratio * requests, min_per_s * window_s)`. Time comes in as `now` on every call.

    Region-wide (SPEC §14): a Lambda container serves one request at a time, so its own counts
    rarely reach the ratio, and the floor lets every container fail over every request. The
    rest of the region's requests and retries (`record_region`, from the health table's counters
    of every container, less this one's own) go in a second window and count with this
    container's. So a brown-out across every upstream stays near `1 + ratio` attempts per request
    over many containers, while a lone container (a quiet region) still fails over within the
    floor.
    """

    __slots__ = ("_local", "_min", "_ratio", "_region", "_window")

    def __init__(self, *, ratio: float, min_per_s: float, window_s: int = 10) -> None:
        self._ratio = ratio
        self._min = min_per_s * window_s
        self._window = window_s
        self._local: Buckets = {}
        self._region: Buckets = {}

    def record_request(self, now: float) -> None:
        _bucket(self._local, now, self._window)[0] += 1

    def record_region(self, now: float, requests: int, retries: int) -> None:
        """The other containers' requests and retries seen since the last time (the health
        table's counters)."""
        bucket = _bucket(self._region, now, self._window)
        bucket[0] += max(requests, 0)
        bucket[1] += max(retries, 0)

    def totals(self, now: float) -> tuple[int, int]:
        """(requests, retries) the budget counts within the window at `now`."""
        local = _totals(self._local, now, self._window)
        region = _totals(self._region, now, self._window)
        return local[0] + region[0], local[1] + region[1]

    def try_spend(self, now: float) -> bool:
        """Take one retry from the budget if it allows; False when it is spent."""
        requests, retries = self.totals(now)
        if retries + 1 > max(self._ratio * requests, self._min):
            return False
        _bucket(self._local, now, self._window)[1] += 1
        return True
