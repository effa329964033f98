"""Field types and configurable caps (`limits.max_n`, `max_tokens`, `max_messages`)."""

from __future__ import annotations

from typing import Any

import pytest

from edge_router import errors
from edge_router.api.limits import HeadersTooLarge, check_headers, check_limits
from edge_router.config.model import Limits

CHAT = "/chat/completions"
MESSAGE = {"role": "user", "content": "hi"}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4.1", "messages": [MESSAGE], **fields}


@pytest.mark.parametrize(("field", "value"), [
    ("n", "2"), ("n", 1.5), ("n", True), ("n", 0), ("n", [1]),
    ("max_tokens", "100"), ("max_tokens", 10.0), ("max_tokens", -1), ("max_tokens", False),
    ("max_completion_tokens", 0), ("max_completion_tokens", {}),
])
def test_wrong_types_are_invalid_field_with_param(field: str, value: Any) -> None:
    with pytest.raises(errors.InvalidField) as info:
        check_limits(body(**{field: value}), CHAT, Limits())
    assert info.value.param == field
    assert info.value.status_code == 400


def test_defaults_cap_nothing() -> None:
    check_limits(body(n=128, max_tokens=1_000_000, messages=[MESSAGE] * 5000), CHAT, Limits())
    check_limits(body(n=None, max_tokens=None), CHAT, Limits())


@pytest.mark.parametrize(("fields", "param"), [
    ({"n": 5}, "n"),
    ({"max_tokens": 4097}, "max_tokens"),
    ({"max_completion_tokens": 4097}, "max_completion_tokens"),
    ({"messages": [MESSAGE] * 11}, "messages"),
])
def test_caps_reject_values_over_them(fields: dict[str, Any], param: str) -> None:
    limits = Limits(max_n=4, max_tokens=4096, max_messages=10)
    with pytest.raises(errors.InvalidField) as info:
        check_limits(body(**fields), CHAT, limits)
    assert info.value.param == param
    assert "limits." in info.value.message


def test_values_at_the_caps_pass() -> None:
    limits = Limits(max_n=4, max_tokens=4096, max_messages=10)
    check_limits(body(n=4, max_tokens=4096, messages=[MESSAGE] * 10), CHAT, limits)


def test_completions_accept_max_tokens_zero_and_are_capped() -> None:
    check_limits({"model": "m", "prompt": "p", "max_tokens": 0, "echo": True}, "/completions",
                 Limits())
    with pytest.raises(errors.InvalidField):
        check_limits({"model": "m", "prompt": "p", "n": 3}, "/completions", Limits(max_n=2))


def test_embeddings_are_not_checked() -> None:
    check_limits({"model": "m", "input": "x", "n": "whatever"}, "/embeddings", Limits(max_n=1))


def headers(*pairs: tuple[str, str | bytes]) -> list[tuple[bytes, bytes]]:
    return [(n.encode(), v if isinstance(v, bytes) else v.encode()) for n, v in pairs]


@pytest.mark.parametrize("name", ["user-agent", "authorization", "openai-beta", "accept"])
def test_a_long_header_that_would_go_upstream_is_431(name: str) -> None:
    with pytest.raises(HeadersTooLarge) as info:
        check_headers(headers((name, "a" * 8001)))
    assert info.value.status_code == 431
    assert name in info.value.message


def test_long_headers_that_stay_here_pass_until_the_total_cap() -> None:
    check_headers(headers(("x-big", "a" * 50_000), ("user-agent", "a" * 8000)))
    with pytest.raises(HeadersTooLarge):
        check_headers(headers(("x-big", "a" * 70_000)))
    with pytest.raises(HeadersTooLarge):
        check_headers(headers(*[(f"x-{i}", "v" * 100) for i in range(700)]))



def test_the_header_total_follows_limits_max_header_bytes() -> None:
    check_headers(headers(("x-big", "a" * 3000)), 4096)
    with pytest.raises(HeadersTooLarge, match="4096-byte"):
        check_headers(headers(("x-big", "a" * 5000)), 4096)
