"""Type checks and configurable caps on the request fields that multiply upstream cost
(`n`, `max_tokens`/`max_completion_tokens`, the number of chat `messages`), answered 400
`invalid_field` with `param` before any upstream call (SPEC §3, the "fields" step).

Types are checked always (an integer, not a boolean or a decimal, as OpenAI's API requires);
caps only when `limits.max_n`, `limits.max_tokens`, `limits.max_messages` are set.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..config.model import Limits

#: field -> (the Limits attribute that caps it, smallest valid value); on chat and completions.
_COUNTS = {
    "n": ("max_n", 1),
    "max_tokens": ("max_tokens", 0),  # 0 is valid on /completions with echo
    "max_completion_tokens": ("max_tokens", 1),
}
_CAPPED_PATHS = ("/chat/completions", "/completions")


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
