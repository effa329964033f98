"""The router's own errors, rendered in OpenAI's error shape (SPEC §3).

    RouterError                      500 server_error / internal_error
    ├── InvalidJSON                  400 invalid_request_error / invalid_json
    ├── MissingField                 400 invalid_request_error / missing_field
    ├── InvalidField                 400 invalid_request_error / invalid_field
    ├── MissingApiKey                401 authentication_error / missing_api_key
    ├── InvalidApiKey                401 authentication_error / invalid_api_key
    ├── ModelNotAllowed              403 permission_error / model_not_allowed
    ├── NotFound                     404 invalid_request_error / not_found
    ├── ModelNotFound                404 invalid_request_error / model_not_found
    ├── MethodNotAllowed             405 invalid_request_error / method_not_allowed
    ├── RequestTooLarge              413 invalid_request_error / request_too_large
    ├── UpstreamRejected             4xx invalid_request_error / upstream_rejected_request
    ├── RateLimited                  429 rate_limit_error / rate_limited      (Retry-After)
    ├── KeyRequestsExceeded          429 requests / rate_limit_exceeded        (Retry-After; §13)
    ├── KeyTokensExceeded            429 tokens / rate_limit_exceeded          (Retry-After; §13)
    ├── InsufficientQuota            429 insufficient_quota / insufficient_quota (x-should-retry: false)
    ├── AllUpstreamsFailed           502 upstream_error / all_upstreams_failed
    ├── NoUpstreamAvailable          503 upstream_error / no_upstream_available (Retry-After)
    └── DeadlineExceeded             504 timeout_error / deadline_exceeded

`to_openai_body` is the one renderer; the API layer registers one handler that uses it. 502 and
504 carry `x-should-retry: false` so that OpenAI SDKs do not multiply the router's own retries.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar


class RouterError(Exception):
    status_code: ClassVar[int] = 500
    error_type: ClassVar[str] = "server_error"
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "The router hit an internal error."
    should_retry: ClassVar[bool | None] = None

    def __init__(
        self,
        message: str | None = None,
        *,
        param: str | None = None,
        retry_after_s: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.param = param
        self.retry_after_s = retry_after_s
        self.extra_headers = dict(headers or {})
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        out = dict(self.extra_headers)
        if self.retry_after_s is not None:
            out["retry-after"] = str(max(1, math.ceil(self.retry_after_s)))
        if self.should_retry is False:
            out["x-should-retry"] = "false"
        return out


class InvalidJSON(RouterError):
    status_code, error_type, code = 400, "invalid_request_error", "invalid_json"
    default_message = "The request body is not a valid JSON object."


class MissingField(RouterError):
    status_code, error_type, code = 400, "invalid_request_error", "missing_field"
    default_message = "A required field is missing."


class InvalidField(RouterError):
    status_code, error_type, code = 400, "invalid_request_error", "invalid_field"
    default_message = "A field has the wrong type or value."


class MissingApiKey(RouterError):
    status_code, error_type, code = 401, "authentication_error", "missing_api_key"
    default_message = (
        "You didn't provide an API key. Send it in the Authorization header as 'Bearer <key>'."
    )


class InvalidApiKey(RouterError):
    status_code, error_type, code = 401, "authentication_error", "invalid_api_key"
    default_message = "Incorrect API key provided."


class ModelNotAllowed(RouterError):
    status_code, error_type, code = 403, "permission_error", "model_not_allowed"
    default_message = "This API key may not use the requested model."


class NotFound(RouterError):
    status_code, error_type, code = 404, "invalid_request_error", "not_found"
    default_message = "Unknown path."


class ModelNotFound(RouterError):
    status_code, error_type, code = 404, "invalid_request_error", "model_not_found"
    default_message = "No upstream serves the requested model."


class MethodNotAllowed(RouterError):
    status_code, error_type, code = 405, "invalid_request_error", "method_not_allowed"
    default_message = "Method not allowed on this path."


class RequestTooLarge(RouterError):
    status_code, error_type, code = 413, "invalid_request_error", "request_too_large"
    default_message = "The request body is too large."


class UpstreamRejected(RouterError):
    """Every attempt was refused with a non-JSON 4xx (a proxy's 413 page, a CDN's 403): the
    client's request caused it, so the status is the last refusal's (SPEC §5)."""

    error_type, code = "invalid_request_error", "upstream_rejected_request"
    default_message = "The upstream refused the request."

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status  # type: ignore[misc]  # per instance: the upstream's 4xx


class RateLimited(RouterError):
    status_code, error_type, code = 429, "rate_limit_error", "rate_limited"
    default_message = "Every upstream is rate-limiting this request; retry after the given time."


class KeyRequestsExceeded(RouterError):
    """The router key's `rpm` is used up for this minute (SPEC §13)."""

    status_code, error_type, code = 429, "requests", "rate_limit_exceeded"
    default_message = "Rate limit reached for this API key (requests per minute)."


class KeyTokensExceeded(RouterError):
    """The router key's `tpm` is used up for this minute (SPEC §13)."""

    status_code, error_type, code = 429, "tokens", "rate_limit_exceeded"
    default_message = "Rate limit reached for this API key (tokens per minute)."


class InsufficientQuota(RouterError):
    """The router key's monthly `budget_usd` is spent: waiting will not help (SPEC §13)."""

    status_code, error_type, code = 429, "insufficient_quota", "insufficient_quota"
    default_message = (
        "This API key has spent its monthly budget. Ask the router's operator to raise it."
    )
    should_retry = False


class AllUpstreamsFailed(RouterError):
    status_code, error_type, code = 502, "upstream_error", "all_upstreams_failed"
    default_message = "Every upstream attempt failed."
    should_retry = False


class NoUpstreamAvailable(RouterError):
    status_code, error_type, code = 503, "upstream_error", "no_upstream_available"
    default_message = "Every upstream circuit is open; retry after the given time."


class DeadlineExceeded(RouterError):
    status_code, error_type, code = 504, "timeout_error", "deadline_exceeded"
    default_message = "The request deadline passed before an upstream answered."
    should_retry = False


def to_openai_body(error: RouterError) -> dict[str, Any]:
    """`{"error": {"message", "type", "param", "code"}}` for any router error."""
    return {
        "error": {
            "message": error.message,
            "type": error.error_type,
            "param": error.param,
            "code": error.code,
        }
    }
