"""Transport failures, translated from aiohttp at one boundary (`client.py`).

    AttemptError
    ├── ConnectFailed     could not connect (refused, DNS, TLS, connect timeout)   hard
    ├── ConnectionReset   the connection broke before or during the answer          hard
    ├── FirstByteTimeout  no first byte (or no next chunk) within the idle limit    hard
    └── DeadlineCut       the request's own deadline cut the attempt short          neutral
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
    error_class = "timeout"
    breaker_hard = False
