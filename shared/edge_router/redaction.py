"""Masking credentials in everything the router writes (SPEC §7: keys and Authorization values
never appear in logs, metrics, errors or `/status`).

`Redactor` masks, in any text:
  - `Bearer <token>` / `Basic <token>`: the token;
  - `sk-…` keys (router keys `sk-edge-…`, OpenAI-style `sk-proj-…`);
  - the value after `authorization`, `api_key`, `x-api-key`, `SecretString`, `password`, `token`
    and the like, in `name: value`, `name=value` and JSON forms (so botocore's debug dump of a
    Secrets Manager answer is masked too);
  - every secret registered with `add()`: the configured upstream keys, whatever their shape.

`install_log_redaction()` applies it to every log record twice over: a record factory masks the
message and its string arguments as the record is made (so handlers added later are covered),
and every handler present masks the final text it writes, tracebacks and JSON fields included
(`redact_handler`; Powertools' handler is wrapped the same way). Call it once logging
is configured (`serve` does after uvicorn configures its loggers; the Lambda handler after
creating its Powertools Logger); calling it again is harmless.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any
from urllib.parse import unquote_plus

MASK = "[REDACTED]"
#: Registered secrets shorter than this are not masked (they would garble every line).
MIN_SECRET_CHARS = 4

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9_\-.~+/=:]+"), rf"\1\2{MASK}"),
    (re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{6,}"), f"sk-{MASK}"),
    (
        re.compile(
            r"(?i)(?<![A-Za-z0-9])(authorization|proxy-authorization|x-api-key|api[_-]?key|apikey"
            r"|secret[_-]?string|secret|password|passwd|access[_-]?token|refresh[_-]?token"
            r"|session[_-]?token|client[_-]?secret)(?![A-Za-z0-9_])"
            # `b'…'` (a bytes repr) only before a quote: else the B of "Bearer" was taken
            r"(\\?[\"']?\s*[:=]\s*(?:b(?=\\?[\"']))?\\?[\"']?)"
            # not a scheme (masked by the first pattern), nor a mask: masking twice must not
            # leave `[REDACTED]]`
            r"(?!\s*b?\\?[\"']?\s*(?:(?:bearer|basic)\b|\[REDACTED\]))"
            r"([^\s\"',;}\]\\]+)"
        ),
        rf"\1\2{MASK}",
    ),
)


class Redactor:
    """Masks credentials in text; thread-safe to `add` to while others redact."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Mask `secret` wherever it appears from now on."""
        secret = secret.strip()
        if len(secret) < MIN_SECRET_CHARS or secret in self._secrets:
            return
        with self._lock:
            # Longest first, so a secret containing another is masked whole.
            self._secrets = tuple(sorted({*self._secrets, secret}, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        masked = self._mask(text)
        if "%" in masked or "+" in masked:
            # a key form-encoded in a query string (`?key=sk%2Dproj%2D…`) is still a key:
            # when the decoded text has something to mask, the decoded text is what we write
            decoded = unquote_plus(masked)
            if decoded != masked:
                redone = self._mask(decoded)
                if redone != decoded:
                    return redone
        return masked

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def value(self, value: Any) -> Any:
        """`value` with its strings masked (log arguments: tuples, dicts and lists too)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, tuple):
            return tuple(self.value(v) for v in value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        return value


#: The process's redactor: `install_log_redaction` and the error renderer use it, and the
#: upstream-key provider registers every key it holds with it.
default_redactor = Redactor()


def redact_handler(handler: logging.Handler, redactor: Redactor = default_redactor) -> None:
    """Mask the final text `handler` writes: message, traceback and JSON fields alike.

    It wraps the handler's `format` rather than replacing its formatter, so a formatter that
    others look up by type (Powertools' `LambdaPowertoolsFormatter`) stays what it was.
    """
    if getattr(handler, "_edge_redacting", False):
        return
    inner = handler.format

    def format(record: logging.LogRecord) -> str:
        return redactor(inner(record))

    setattr(handler, "format", format)  # noqa: B010 (an instance attribute on purpose)
    setattr(handler, "_edge_redacting", True)  # noqa: B010


def _scrub(record: logging.LogRecord, redactor: Redactor) -> None:
    if isinstance(record.msg, str):
        record.msg = redactor(record.msg)
    if record.args:
        record.args = redactor.value(record.args)


def install_log_redaction(redactor: Redactor = default_redactor) -> None:
    """Mask credentials in every log record from now on (see the module docstring)."""
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "_edge_redacting", False):

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = factory(*args, **kwargs)
            _scrub(record, redactor)
            return record

        redacting_factory._edge_redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(redacting_factory)
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        logger for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            redact_handler(handler, redactor)
