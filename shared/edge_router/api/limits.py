"""Limits on what a client may send, checked before any upstream call.

- Headers (`check_headers`, first of all): 431 when the headers total over 64 KiB, or a header
  that would go upstream (SPEC §7's allow-list, and Authorization in passthrough mode) is over
  8000 bytes. Common servers refuse longer lines (aiohttp 8190, nginx 8 KiB) with a non-JSON 400,
  which the router would count against the upstream: without this check one client could open
  every circuit with a long User-Agent.
- Fields (`check_limits`, SPEC §3's "fields" step): `n`, `max_tokens`/`max_completion_tokens`
  (and the Responses API's `max_output_tokens`) must be integers (not booleans or decimals, as OpenAI's API requires), and at most
  `limits.max_n` / `limits.max_tokens` when set; chat `messages` at most `limits.max_messages`.
  Answered 400 `invalid_field` with `param`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from .. import errors
from ..config.model import Limits
from .requests import FORWARDED_HEADERS

MAX_HEADERS_BYTES = 64 * 1024
MAX_FORWARDED_HEADER_BYTES = 8000
_UPSTREAM_BOUND = FORWARDED_HEADERS | {b"authorization", b"x-api-key", b"x-request-id"}


class HeadersTooLarge(errors.RouterError):
    """431: the request's headers, or one that would go upstream, are too large."""

    status_code: ClassVar[int] = 431
    error_type: ClassVar[str] = "invalid_request_error"
    code: ClassVar[str] = "request_headers_too_large"
    default_message: ClassVar[str] = "The request headers are too large."


def check_headers(
    headers: Sequence[tuple[bytes, bytes]], max_bytes: int = MAX_HEADERS_BYTES
) -> None:
    """431 past `max_bytes` in all (`limits.max_header_bytes`; `serve`'s parser refuses such a
    head before the app sees it, this covers the Lambda modes), or one upstream-bound header
    over 8000 bytes."""
    total = 0
    for name, value in headers:
        total += len(name) + len(value) + 4
        if len(value) > MAX_FORWARDED_HEADER_BYTES and name in _UPSTREAM_BOUND:
            raise HeadersTooLarge(
                f"The '{name.decode('latin-1')}' header is over the "
                f"{MAX_FORWARDED_HEADER_BYTES}-byte limit."
            )
    if total > max_bytes:
        raise HeadersTooLarge(f"The request headers are over the {max_bytes}-byte limit.")

#: field -> (the Limits attribute that caps it, smallest valid value); on chat and completions.
_COUNTS = {
    "n": ("max_n", 1),
    "max_tokens": ("max_tokens", 0),  # 0 is valid on /completions with echo
    "max_completion_tokens": ("max_tokens", 1),
    "max_output_tokens": ("max_tokens", 1),  # Responses API
}
_CAPPED_PATHS = ("/chat/completions", "/completions", "/responses", "/messages")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_limits(parsed: dict[str, Any], path: str, limits: Limits) -> None:
    """Raise `InvalidField` for a wrong type or a value over a configured cap."""
    if path not in _CAPPED_PATHS:
        return
    for field, (cap_name, minimum) in _COUNTS.items():
        value = parsed.get(field)
        if value is None:
            continue
        if not _is_int(value) or value < minimum:
            raise errors.InvalidField(
                f"'{field}' must be an integer of at least {minimum}.", param=field
            )
        cap: int | None = getattr(limits, cap_name)
        if cap is not None and value > cap:
            raise errors.InvalidField(
                f"'{field}' is {value}, over this router's limit of {cap} "
                f"(limits.{cap_name}).",
                param=field,
            )
    messages = parsed.get("messages")
    if (
        limits.max_messages is not None
        and isinstance(messages, list)
        and len(messages) > limits.max_messages
    ):
        raise errors.InvalidField(
            f"'messages' has {len(messages)} entries, over this router's limit of "
            f"{limits.max_messages} (limits.max_messages).",
            param="messages",
        )
