"""Transport failures, translated from aiohttp at one boundary (`client.py`).

    AttemptError
    ├── ConnectFailed     could not connect (refused, DNS, TLS, connect timeout)   hard
    ├── ConnectionReset   the connection broke before or during the answer          hard
    ├── FirstByteTimeout  no first byte (or no next chunk) within the idle limit    hard
    ├── DeadlineCut       the request's own deadline cut the attempt short          neutral
    └── AnswerTooLarge    the answer is over `limits.max_response_bytes`            neutral
"""

from __future__ import annotations


class AttemptError(Exception):
    error_class = "connect"
    breaker_hard = True


class ConnectFailed(AttemptError):
    error_class = "connect"


class ConnectionReset(AttemptError):
    error_class = "connect"


class FirstByteTimeout(AttemptError):
    error_class = "timeout"


class DeadlineCut(AttemptError):
    """`after_headers`: the upstream had answered but its body did not arrive in time (a
    trickle): that is the upstream's fault, unlike a deadline that runs out while waiting."""

    error_class = "timeout"
    breaker_hard = False

    def __init__(self, message: str, *, after_headers: bool = False) -> None:
        super().__init__(message)
        self.after_headers = after_headers


class AnswerTooLarge(AttemptError):
    """Over `limits.max_response_bytes` after decompression: a failed attempt, never buffered
    past the limit. Neutral for the breaker: a client can ask for a huge answer (embeddings of
    many inputs), and a client must never be able to open a circuit."""

    error_class = "upstream_5xx"
    breaker_hard = False
