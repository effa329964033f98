"""SPEC §5's outcome table."""

from __future__ import annotations

import pytest

from edge_router.routing.outcome import Outcome, classify


@pytest.mark.parametrize(
    ("status", "is_json", "expected"),
    [
        (200, True, Outcome.SUCCESS),
        (200, False, Outcome.FAILED),  # an HTML page at 200 from a proxy
        (400, True, Outcome.PASS_THROUGH),
        (404, True, Outcome.PASS_THROUGH),
        (422, True, Outcome.PASS_THROUGH),
        (401, True, Outcome.AUTH_FAILED),
        (403, True, Outcome.AUTH_FAILED),
        # a non-JSON 4xx (nginx's HTML 413, a CDN's 403 page) is the client's doing: it fails
        # over but never counts against the breaker (issue 11, finding 1)
        (401, False, Outcome.REJECTED),
        (403, False, Outcome.REJECTED),
        (413, False, Outcome.REJECTED),
        (400, False, Outcome.REJECTED),
        (408, False, Outcome.FAILED),
        (500, False, Outcome.FAILED),
        (429, True, Outcome.RATE_LIMITED),
        (429, False, Outcome.RATE_LIMITED),
        (408, True, Outcome.FAILED),
        (500, True, Outcome.FAILED),
        (503, True, Outcome.FAILED),
        (302, False, Outcome.FAILED),
    ],
)
def test_classify(status: int, is_json: bool, expected: Outcome) -> None:
    assert classify(status, body_is_json=is_json) is expected
