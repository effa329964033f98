"""CORS for browser apps: the options of Starlette's `CORSMiddleware` from `cors.allow_origins`.

Shared by `create_app` (serve) and `api.lazy` (the Lambda app, which imports no FastAPI): in both
the CORS layer is outermost, so it sees the fast path's answers too.
"""

from __future__ import annotations

from typing import Any

from .deps import Deps

#: What a browser app may read from an answer (CORS hides other headers from scripts).
EXPOSED_HEADERS = (
    "x-edge-region", "x-edge-upstream", "x-edge-attempts", "x-edge-overhead-ms",
    "x-edge-cost-usd", "x-edge-model", "x-request-id", "x-upstream-request-id",
    "retry-after", "x-should-retry",
    "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
)


def cors_options(deps: Deps) -> dict[str, Any] | None:
    """`CORSMiddleware` keyword arguments, or None when no origin is allowed (no CORS layer)."""
    if not deps.config.cors.allow_origins:
        return None
    return {
        "allow_origins": list(deps.config.cors.allow_origins),
        "allow_methods": ["GET", "HEAD", "POST", "DELETE"],
        "allow_headers": ["*"],  # SDKs send their own (x-stainless-*, anthropic-*, openai-*)
        "expose_headers": list(EXPOSED_HEADERS),
        "max_age": 600,
    }
