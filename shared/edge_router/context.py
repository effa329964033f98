"""Per-request bookkeeping shared by the middleware, the routes and the service."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(slots=True)
class RequestContext:
    request_id: str
    started: float  # perf_counter at ASGI entry
    attempts: int = 0
    upstream: str | None = None
    waited_s: float = 0.0  # upstream waits, backoff and 429 sleeps: not router overhead
    upload_s: float = 0.0  # reading the client's body: not router overhead either
    model: str = "other"  # the metric `Model` dimension (of the model that answered)
    answered_model: str | None = None  # `x-edge-model`: the chain's model that answered
    status: int = 0
    error_class: str | None = None
    ttfb_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal | None = None
    cost_header: bool = False
    budget_exhausted: bool = False  # the retry budget refused a retry (one metric per request)
    # keys mode (SPEC §13): the key's id, whether the request was admitted past its limits,
    # the model its usage is booked under, and the x-ratelimit-* headers of a limited key
    key_id: str | None = None
    admitted: bool = False
    usage_model: str | None = None
    rate_headers: list[tuple[bytes, bytes]] | None = None
