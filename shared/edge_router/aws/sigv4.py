"""AWS Signature Version 4 for one request, as a pure function (no clock, no environment).

    headers = sign(request, credentials, region="us-east-1", service="dynamodb", now=clock.wall())

Only what the router's own AWS calls need: a POST of a JSON body to a path without a query
string, every given header signed. `tests/unit/test_sigv4.py` checks the result byte for byte
against botocore's `SigV4Auth` for the same request and time.
Reference: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ALGORITHM", "Credentials", "Request", "sign"]

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class Credentials:
    """Static credentials (a Lambda function's role, as the runtime puts them in the
    environment). `repr` shows the key id only."""

    access_key: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(access_key={self.access_key!r})"


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    host: str
    path: str
    headers: Mapping[str, str]
    body: bytes


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(f"AWS4{secret_key}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def sign(
    request: Request, credentials: Credentials, *, region: str, service: str, now: float
) -> dict[str, str]:
    """The request's headers plus `Host`, `X-Amz-Date`, `X-Amz-Security-Token` (with a session
    token) and `Authorization`, signed at wall-clock time `now` (seconds since the epoch)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    date = stamp[:8]
    headers = {**request.headers, "Host": request.host, "X-Amz-Date": stamp}
    if credentials.token:
        headers["X-Amz-Security-Token"] = credentials.token
    canonical = sorted((name.lower(), " ".join(value.split())) for name, value in headers.items())
    signed = ";".join(name for name, _ in canonical)
    canonical_request = "\n".join([
        request.method, request.path, "",
        *(f"{name}:{value}" for name, value in canonical), "",
        signed, hashlib.sha256(request.body).hexdigest(),
    ])  # fmt: skip
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [ALGORITHM, stamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    signature = hmac.new(
        signing_key(credentials.secret_key, date, region, service), to_sign.encode(), hashlib.sha256
    ).hexdigest()
    headers["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return headers
