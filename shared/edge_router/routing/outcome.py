"""What one upstream attempt's answer means (SPEC §5's outcome table), as a pure function."""

from __future__ import annotations

import enum


class Outcome(enum.Enum):
    SUCCESS = "success"  # 2xx: return it
    PASS_THROUGH = "pass_through"  # other 4xx with a JSON body: return it, stop
    AUTH_FAILED = "auth_failed"  # 401/403 with a JSON body: return it, stop
    RATE_LIMITED = "rate_limited"  # 429: mark, try the next candidate or wait
    REJECTED = "rejected"  # other 4xx, non-JSON (a proxy's or WAF's page): next candidate, neutral
    FAILED = "failed"  # 408, 5xx, 3xx, non-JSON 2xx: next candidate, soft breaker failure
    HARD_FAILED = "hard_failed"  # connect error, reset, first-byte timeout, early stream death
    DEADLINE = "deadline"  # our own deadline cut the attempt: 504, neutral


def is_json_type(content_type: str | None) -> bool:
    return content_type is not None and "json" in content_type.lower()


def classify(status: int, *, body_is_json: bool, is_stream: bool = False) -> Outcome:
    """Classify an answer that arrived. `body_is_json` means the body parsed as JSON with a JSON
    content type; `is_stream` means a `text/event-stream` answer to a streaming request."""
    if 200 <= status < 300:
        return Outcome.SUCCESS if body_is_json or is_stream else Outcome.FAILED
    if status == 429:
        return Outcome.RATE_LIMITED
    if 400 <= status < 500 and status != 408:
        if not body_is_json:
            # nginx's HTML 413 for a big body, a CDN's 403 page: the client's request caused
            # it, so it never counts against the upstream (a client must not open circuits)
            return Outcome.REJECTED
        return Outcome.AUTH_FAILED if status in (401, 403) else Outcome.PASS_THROUGH
    return Outcome.FAILED
