"""Transport failures in a few plain words, for people: the probe table, `last_error` in
`/status`, and the router's own error messages to clients. Built from an exception's type and
errno only, never its text (nothing of a request can leak through a library's message) and
never its class name (`ClientPayloadError` means nothing to a client).
"""

from __future__ import annotations

import errno
import socket
import ssl

import aiohttp


def _connect_detail(exc: aiohttp.ClientConnectorError) -> str:
    os_error = exc.os_error
    if isinstance(os_error, socket.gaierror):
        return "DNS lookup failed"
    if isinstance(os_error, ConnectionRefusedError) or os_error.errno == errno.ECONNREFUSED:
        return "connection refused"
    if os_error.errno is not None:
        return f"connect failed ({errno.errorcode.get(os_error.errno, os_error.errno)})"
    return "connect failed"


def classify(exc: BaseException, *, timeout_s: float) -> tuple[str, str]:
    """(error class, detail) for an exception raised while probing.

    Details are built from the exception's type and errno only, never its text, so nothing of
    the request (headers, key) can leak through a library's message.
    """
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts subclass it; check before the rest
        return "timeout", f"no answer within {timeout_s:g} s"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | ssl.SSLCertVerificationError):
        return "tls", "TLS handshake failed: certificate not trusted"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return "tls", "TLS handshake failed"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect", _connect_detail(exc)
    if isinstance(exc, aiohttp.ServerDisconnectedError | ConnectionResetError):
        return "disconnected", "connection closed before an answer"
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
        return "protocol", "invalid HTTP answer"
    if isinstance(exc, aiohttp.ClientOSError):
        return "disconnected", "connection error"
    return "client", "request failed"


def plain(exc: BaseException) -> str:
    """Only the words of `classify`, for messages (timeouts are named by their callers)."""
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer was cut short"
    if isinstance(exc, ConnectionResetError) or getattr(exc, "errno", None) == errno.ECONNRESET:
        return "connection reset by the upstream"
    return classify(exc, timeout_s=0)[1]
