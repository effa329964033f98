"""The body checks every endpoint shares (SPEC §3): a repeated top-level key is 400
`invalid_json` (what the router checks must be what the upstream reads), and `model` is capped.

The duplicate-key test has a cheap path (orjson has no pairs hook); hypothesis checks that it
agrees with the stdlib parser's verdict on generated bodies, escapes and repeats included."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_router import errors
from edge_router.api.requests import _repeats_slow, check_model, parse_body, repeats_a_key

CHAT = '"messages":[{"role":"user","content":"hi"}]'


@pytest.mark.parametrize("body", [
    b'{"model":"o3-pro","model":"gpt-4.1",' + CHAT.encode() + b"}",
    b'{"model":"o3-pro",' + CHAT.encode() + b',"mod\\u0065l":"gpt-4.1"}',
    b'{"\\u006dodel":"o3-pro",' + CHAT.encode() + b',"model":"gpt-4.1"}',
    b'{"model":"gpt-4.1",' + CHAT.encode() + b',"user":"a","user":"b"}',
    b'{"model":"gpt-4.1",' + CHAT.encode() + b',"\\u00e9":1,"\\u00e9":2}',
    '{"model":"gpt-4.1",{CHAT},"é":1,"\\u00e9":2}'.replace("{CHAT}", CHAT).encode(),
    b'{"model":"gpt-4.1",' + CHAT.encode() + b',"a\\/b":1,"a/b":2}',
    b'{"model":"gpt-4.1",' + CHAT.encode() + b', "model" :"gpt-4.1"}',
])
def test_a_repeated_top_level_key_is_invalid_json(body: bytes) -> None:
    with pytest.raises(errors.InvalidJSON, match="repeats a top-level key"):
        parse_body(body, "/chat/completions", max_model_chars=256)


@pytest.mark.parametrize("body", [
    b'{"model":"gpt-4.1",' + CHAT.encode() + b"}",
    # "model" as a nested key, as a value, inside a string: not a top-level repeat
    b'{"model":"gpt-4.1","messages":[{"role":"model","content":"say \\"model\\"","model":1}]}',
    b'{"model":"gpt-4.1","messages":[{"role":"user","content":"caf\\u00e9 \\u4f60\\u597d"}]}',
    b'{"model":"gpt-4.1","messages":[{"role":"user","content":"\\u003cb\\u003e"}],"x":{"x":1}}',
])
def test_no_repeat_passes(body: bytes) -> None:
    assert parse_body(body, "/chat/completions", max_model_chars=256)["model"] == "gpt-4.1"


_KEYS = st.sampled_from(["model", "messages", "stream", "user", "n", "é", "a/b", "x y"])


def _spell(key: str, escape: bool) -> str:
    if not escape:
        return json.dumps(key, ensure_ascii=False)
    return '"' + "".join(f"\\u{ord(c):04x}" for c in key) + '"'


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_KEYS, st.booleans(), st.sampled_from(
    ['"model"', '{"model":1}', '["model"]', '"\\u006dodel"', "1", '"m\\"x"']
)), min_size=1, max_size=6))
def test_the_cheap_path_agrees_with_the_full_parse(members: list[tuple[str, bool, str]]) -> None:
    body = ("{" + ",".join(f"{_spell(k, e)}:{v}" for k, e, v in members) + "}").encode()
    parsed = orjson.loads(body)
    expected = len({k for k, _, _ in members}) != len(members)
    assert _repeats_slow(body) is expected
    assert repeats_a_key(body, parsed) is expected


def test_model_is_capped_and_the_error_does_not_quote_it() -> None:
    assert check_model({"model": "m" * 256}, max_chars=256) == "m" * 256
    with pytest.raises(errors.InvalidField) as caught:
        check_model({"model": "m" * 257}, max_chars=256)
    assert caught.value.param == "model"
    assert "mmmm" not in caught.value.message
