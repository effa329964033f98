"""`Answer`: what a simulated upstream says to one request, before any fault distorts it."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import responses as r

__all__ = ["Answer", "invalid"]


@dataclass(frozen=True, slots=True)
class Answer:
    """A full answer: a JSON (or other) `body`, or SSE `events` when streaming."""

    status: int
    body: bytes = b""
    content_type: str = r.JSON_TYPE
    events: list[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def raw(self) -> bytes:
        """Every byte of the body, streamed or not."""
        return b"".join(self.events) if self.events is not None else self.body


def invalid(message: str, *, code: str, param: str | None = None, status: int = 400) -> Answer:
    """An OpenAI-shaped `invalid_request_error`."""
    return Answer(
        status, r.error_body(message, type_="invalid_request_error", code=code, param=param)
    )
