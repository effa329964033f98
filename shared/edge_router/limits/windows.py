"""Per-key limits as pure arithmetic over time windows (SPEC §13). No I/O, no clock: `now` comes in.

Windows are fixed and UTC: a minute (`rpm`, `tpm`), a day (usage reports) and a calendar month
(`budget_usd`). Each has an id that sorts as text and names the table items of that window:

    minute  "2026-11-29T18:21"      sk = "min#2026-11-29T18:21#<region>"
    day     "2026-11-29"            sk = "day#2026-11-29#<model>#<region>"
    month   "2026-11"               sk = "month#2026-11#<region>"

A region writes only its own items; what a key has used in a window is its own region's item
(exact: the conditional `ADD` returns it) plus the other regions' items as last read.

`verdict()` decides a request from those counts; `rate_headers()` renders OpenAI's
`x-ratelimit-*` headers for any answer to a limited key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum

MINUTE_S = 60
#: How long minute items outlive their window before the table's TTL removes them.
MINUTE_TTL_S = 3600
#: Month items are kept a month past the month's end (budgets need only the current one).
MONTH_TTL_S = 31 * 86400
#: Day items (the usage report) are kept about 13 months.
DAY_TTL_S = 400 * 86400

MINUTE_PREFIX = "min#"
DAY_PREFIX = "day#"
MONTH_PREFIX = "month#"

ZERO_USD = Decimal(0)


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """A key's limits; 0 = unlimited. `budget_usd` is per UTC calendar month."""

    rpm: int = 0
    tpm: int = 0
    budget_usd: Decimal = ZERO_USD

    @property
    def any(self) -> bool:
        return bool(self.rpm or self.tpm or self.budget_usd > 0)

    @property
    def windowed(self) -> bool:
        """Needs the per-request minute counter (a conditional `ADD`)."""
        return bool(self.rpm or self.tpm)


def _utc(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


def minute_id(now: float) -> str:
    return _utc(now).strftime("%Y-%m-%dT%H:%M")


def minute_end(now: float) -> float:
    return (math.floor(now / MINUTE_S) + 1) * MINUTE_S


def day_id(now: float) -> str:
    return _utc(now).strftime("%Y-%m-%d")


def month_id(now: float) -> str:
    return _utc(now).strftime("%Y-%m")


def month_end(now: float) -> float:
    t = _utc(now)
    first_next = (t.replace(day=28) + timedelta(days=4)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    return first_next.timestamp()


def minute_sk(minute: str, region: str) -> str:
    return f"{MINUTE_PREFIX}{minute}#{region}"


def month_sk(month: str, region: str) -> str:
    return f"{MONTH_PREFIX}{month}#{region}"


def day_sk(day: str, model: str, region: str) -> str:
    return f"{DAY_PREFIX}{day}#{model}#{region}"


def parse_day_sk(sk: str) -> tuple[str, str, str] | None:
    """(day, model, region) of a day item's sort key, or None for another kind of item."""
    if not sk.startswith(DAY_PREFIX):
        return None
    day, sep, rest = sk.removeprefix(DAY_PREFIX).partition("#")
    model, sep2, region = rest.rpartition("#")
    if not (sep and sep2 and day and model and region):
        return None
    return day, model, region


def minute_expires_at(now: float) -> int:
    return math.ceil(minute_end(now) + MINUTE_TTL_S)


def month_expires_at(now: float) -> int:
    return math.ceil(month_end(now) + MONTH_TTL_S)


def day_expires_at(now: float) -> int:
    return math.ceil(now + DAY_TTL_S)


@dataclass(frozen=True, slots=True)
class Usage:
    """What a key has used in the current windows, as far as this container knows."""

    requests: int = 0  # this minute, every region (own region exact after an admit)
    tokens: int = 0  # this minute, every region, including tokens not yet written
    spent_usd: Decimal = ZERO_USD  # this month, every region, including cost not yet written


class Refusal(Enum):
    REQUESTS = "requests"
    TOKENS = "tokens"
    BUDGET = "insufficient_quota"


def verdict(limits: KeyLimits, used: Usage) -> Refusal | None:
    """Why a new request must be refused, or None. A budget is checked first: a spent budget
    is not a matter of waiting (the SDK must not retry)."""
    if limits.budget_usd > 0 and used.spent_usd >= limits.budget_usd:
        return Refusal.BUDGET
    if limits.rpm and used.requests >= limits.rpm:
        return Refusal.REQUESTS
    if limits.tpm and used.tokens >= limits.tpm:
        return Refusal.TOKENS
    return None


def request_cap(limits: KeyLimits, others: int) -> int | None:
    """The highest count this region's minute item may hold before the `ADD` (exclusive): the
    condition is `requests < cap`. None when `rpm` is unlimited."""
    return None if not limits.rpm else limits.rpm - others


def token_cap(limits: KeyLimits, others: int) -> int | None:
    return None if not limits.tpm else limits.tpm - others


def reset_s(now: float) -> float:
    """Seconds until the current minute window ends (the `Retry-After` of an rpm/tpm refusal)."""
    return max(minute_end(now) - now, 0.0)


def format_reset(seconds: float) -> str:
    """OpenAI's duration format for `x-ratelimit-reset-*`: `"12s"`, `"1m0s"`, `"250ms"`."""
    if seconds < 1:
        return f"{max(math.ceil(seconds * 1000), 0)}ms"
    whole = math.ceil(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def rate_headers(limits: KeyLimits, used: Usage, now: float) -> list[tuple[bytes, bytes]]:
    """OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` for each limit the key
    has (both trios when both are set). Nothing for a key with only a budget."""
    out: list[tuple[bytes, bytes]] = []
    reset = format_reset(reset_s(now)).encode()
    if limits.rpm:
        out += [
            (b"x-ratelimit-limit-requests", str(limits.rpm).encode()),
            (b"x-ratelimit-remaining-requests", str(max(limits.rpm - used.requests, 0)).encode()),
            (b"x-ratelimit-reset-requests", reset),
        ]
    if limits.tpm:
        out += [
            (b"x-ratelimit-limit-tokens", str(limits.tpm).encode()),
            (b"x-ratelimit-remaining-tokens", str(max(limits.tpm - used.tokens, 0)).encode()),
            (b"x-ratelimit-reset-tokens", reset),
        ]
    return out
