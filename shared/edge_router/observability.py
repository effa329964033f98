"""Metric names and the sink the router reports to (SPEC §8).

The service reports one `RequestRecord` per request plus a few events; a sink turns them into
CloudWatch EMF (`runtime/emf.py`, under Lambda) or keeps counts (`CountingMetrics`,
for `serve` and tests). Nothing here may carry a key or an Authorization value.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

REQUESTS = "Requests"
LATENCY = "Latency"
UPSTREAM_LATENCY = "UpstreamLatency"
OVERHEAD = "Overhead"
TIME_TO_FIRST_BYTE = "TimeToFirstByte"
ATTEMPTS = "Attempts"
FAILOVERS = "Failovers"
ERRORS = "Errors"
UPSTREAM_AUTH_FAILED = "UpstreamAuthFailed"
CIRCUIT_OPENED = "CircuitOpened"
RATE_LIMITED = "RateLimited"
RETRY_BUDGET_EXHAUSTED = "RetryBudgetExhausted"
PROMPT_TOKENS = "PromptTokens"
COMPLETION_TOKENS = "CompletionTokens"
COST_USD = "CostUSD"
PROBE_LATENCY = "ProbeLatency"
UPSTREAM_AVAILABLE = "UpstreamAvailable"
LIMITS_UNAVAILABLE = "LimitsUnavailable"

ALL_METRICS = (
    REQUESTS, LATENCY, UPSTREAM_LATENCY, OVERHEAD, TIME_TO_FIRST_BYTE, ATTEMPTS, FAILOVERS,
    ERRORS, UPSTREAM_AUTH_FAILED, CIRCUIT_OPENED, RATE_LIMITED, RETRY_BUDGET_EXHAUSTED,
    PROMPT_TOKENS, COMPLETION_TOKENS, COST_USD, PROBE_LATENCY, UPSTREAM_AVAILABLE,
    LIMITS_UNAVAILABLE,
)

#: The fixed set of ErrorClass dimension values.
ERROR_CLASSES = (
    "client_error", "auth", "rate_limited", "upstream_5xx", "timeout", "connect",
    "stream_interrupted", "internal",
)


@dataclass(slots=True)
class RequestRecord:
    status: int
    model: str  # already folded: a priced model name or "other"
    upstream: str | None
    latency_ms: float
    upstream_ms: float
    overhead_ms: float
    ttfb_ms: float | None
    attempts: int
    error_class: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal | None = None


class Metrics(Protocol):
    def request(self, record: RequestRecord) -> None: ...
    def event(self, name: str, *, upstream: str | None = None, value: float = 1) -> None: ...


class CountingMetrics:
    """Keeps totals in memory: the local sink (shown in `/status`) and the test double."""

    def __init__(self) -> None:
        self.totals: Counter[str] = Counter()
        self.records: list[RequestRecord] = []
        self.keep_records = False

    def request(self, record: RequestRecord) -> None:
        self.totals[REQUESTS] += 1
        self.totals[ATTEMPTS] += record.attempts
        self.totals[FAILOVERS] += max(record.attempts - 1, 0)
        if record.error_class is not None:
            self.totals[ERRORS] += 1
            self.totals[f"{ERRORS}.{record.error_class}"] += 1
        if self.keep_records:
            self.records.append(record)

    def event(self, name: str, *, upstream: str | None = None, value: float = 1) -> None:
        self.totals[name] += int(value)
        if upstream is not None:
            self.totals[f"{name}.{upstream}"] += int(value)


def error_class_for(status: int) -> str | None:
    """The ErrorClass of a finished request from its status, or None for a success (the service
    sets a more precise class, e.g. `connect` or `stream_interrupted`, when it knows one)."""
    if status < 400:
        return None
    if status in (401, 403):
        return "auth"
    if status == 429:
        return "rate_limited"
    if status == 504:
        return "timeout"
    if status == 500:
        return "internal"
    if status >= 500:
        return "upstream_5xx"
    return "client_error"
