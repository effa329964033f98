"""The redactor and the log redaction installed on records and handlers."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from edge_router.redaction import MASK, Redactor, install_log_redaction, redact_handler

ROUTER_KEY = "sk-edge-Qm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWpr"
UPSTREAM_KEY = "hs-9f8e7d6c5b4a39281706"  # no recognisable shape: only registration masks it


@pytest.mark.parametrize("text", [
    f"Authorization: Bearer {ROUTER_KEY}",
    f"authorization='Bearer {UPSTREAM_KEY}'",
    f"{{'authorization': 'Bearer {UPSTREAM_KEY}'}}",
    f'{{"Authorization": "{UPSTREAM_KEY}"}}',
    f"got key {ROUTER_KEY}.",
    f"api_key={UPSTREAM_KEY}",
    f'{{"ARN": "arn:x", "SecretString": "{UPSTREAM_KEY}", "Name": "s"}}',
    f"x-api-key: {UPSTREAM_KEY}",
    f"Basic {UPSTREAM_KEY}",
])
def test_patterns_mask_credentials_without_registration(text: str) -> None:
    out = Redactor()(text)
    assert ROUTER_KEY not in out and UPSTREAM_KEY not in out
    assert MASK in out


def test_registered_secret_is_masked_anywhere() -> None:
    redactor = Redactor()
    redactor.add(UPSTREAM_KEY)
    assert redactor(f"failed: {UPSTREAM_KEY}!") == f"failed: {MASK}!"


def test_ordinary_text_is_left_alone() -> None:
    text = ('{"model": "gpt-4.1", "max_tokens": 100, "n": 2} upstream ap-northeast: HTTP 503; '
            "Send it in the Authorization header as 'Bearer <key>'.")
    assert Redactor()(text) == text


def test_tiny_secrets_are_not_registered() -> None:
    redactor = Redactor()
    redactor.add("abc")
    assert redactor("abcdef") == "abcdef"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    factory = logging.getLogRecordFactory()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logging.setLogRecordFactory(factory)


def test_installed_redaction_masks_messages_args_and_tracebacks(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    redactor = Redactor()
    redactor.add(UPSTREAM_KEY)
    install_log_redaction(redactor)
    install_log_redaction(redactor)  # idempotent
    logger.debug("headers %s", {"authorization": f"Bearer {ROUTER_KEY}"})
    logger.info(f"inline {UPSTREAM_KEY}")
    try:
        raise ValueError(f"bad header value {UPSTREAM_KEY}")
    except ValueError:
        logger.exception("boom")
    out = stream.getvalue()
    assert ROUTER_KEY not in out and UPSTREAM_KEY not in out
    assert out.count(MASK) >= 3
    assert "ValueError" in out  # the traceback is still there


def test_handler_added_later_is_covered_by_the_record_factory(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, _ = captured
    install_log_redaction(Redactor())
    late = io.StringIO()
    handler = logging.StreamHandler(late)
    logger.addHandler(handler)
    try:
        logger.warning("key %s", ROUTER_KEY)
    finally:
        logger.removeHandler(handler)
    assert ROUTER_KEY not in late.getvalue()


def test_redact_handler_keeps_the_formatter_object() -> None:
    handler = logging.StreamHandler(io.StringIO())
    formatter = logging.Formatter("%(message)s")
    handler.setFormatter(formatter)
    redact_handler(handler, Redactor())
    assert handler.formatter is formatter
    record = logging.LogRecord("x", logging.INFO, __file__, 1, f"k={ROUTER_KEY}", None, None)
    assert ROUTER_KEY not in handler.format(record)


def test_powertools_json_lines_are_masked_and_its_formatter_kept(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    stream = io.StringIO()
    logger = Logger(service="edge-router-redaction-test", logger_handler=logging.StreamHandler(stream))
    redactor = Redactor()
    redactor.add(UPSTREAM_KEY)
    install_log_redaction(redactor)
    logger.append_keys(upstream_key=UPSTREAM_KEY)  # even a structured field
    logger.info({"authorization": f"Bearer {ROUTER_KEY}"})
    out = stream.getvalue()
    assert out and ROUTER_KEY not in out and UPSTREAM_KEY not in out
    assert isinstance(logger.registered_formatter, LambdaPowertoolsFormatter)


# -- issue 11, finding 11 ----------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "api_key=[REDACTED]", "authorization: Bearer abc123", "Authorization: Bearer sk-abcdefgh",
    "{'authorization': b'Bearer xyz123'}", "password=b'hunter22'", 'x-api-key: "abc123"',
    '{"api_key": "secret123", "token": "t0k3n"}', "GET /v1/models?api_key=k3y HTTP/1.1",
])
def test_masking_is_idempotent_and_leaves_no_artefacts(text: str) -> None:
    once = Redactor()(text)
    assert Redactor()(once) == once
    assert "]]" not in once and "B[REDACTED]" not in once


@pytest.mark.parametrize("text", [
    "GET /v1/models?key=sk%2Dproj%2Dabcdefghijkl HTTP/1.1",
    "GET /v1/models?auth=Bearer%20abcdefghijkl HTTP/1.1",
    "GET /v1/models?api%5Fkey=abcdefghijkl HTTP/1.1",
    "GET /v1/models?x=Bearer+abcdefghijkl HTTP/1.1",
])
def test_a_percent_encoded_key_in_a_query_string_is_masked(text: str) -> None:
    assert "abcdefghijkl" not in Redactor()(text)


def test_text_with_percent_signs_and_nothing_to_mask_is_left_alone() -> None:
    text = "GET /v1/models?q=100%25%20sure HTTP/1.1"
    assert Redactor()(text) == text
