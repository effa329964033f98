"""SigV4 (`aws/sigv4.py`) byte for byte against botocore's signer for the same request and time."""

from __future__ import annotations

import datetime

import pytest
from botocore import auth as botocore_auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from edge_router.aws.sigv4 import Credentials, Request, sign

NOW = 1_764_452_096.0  # 2025-11-29T21:34:56Z
BODY = b'{"TableName":"edge-router-health","Key":{"pk":{"S":"upstream#hs-us"}}}'
HEADERS = {"Content-Type": "application/x-amz-json-1.0",
           "X-Amz-Target": "DynamoDB_20120810.GetItem"}  # fmt: skip


def botocore_signed(host: str, token: str | None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    at = datetime.datetime.fromtimestamp(NOW, datetime.UTC).replace(tzinfo=None)
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda: at)
    request = AWSRequest(method="POST", url=f"https://{host}/", data=BODY, headers=dict(HEADERS))
    botocore_auth.SigV4Auth(BotoCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", token),
                            "dynamodb", "eu-central-1").add_auth(request)  # fmt: skip
    return dict(request.headers.items())


@pytest.mark.parametrize("token", [None, "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJH"])
@pytest.mark.parametrize("host", ["dynamodb.eu-central-1.amazonaws.com", "127.0.0.1:8000"])
def test_the_signature_is_botocores(
    host: str, token: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = sign(Request("POST", host, "/", HEADERS, BODY),
                Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", token),
                region="eu-central-1", service="dynamodb", now=NOW)  # fmt: skip
    theirs = botocore_signed(host, token, monkeypatch)

    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"] == "20251129T213456Z"
    assert ours.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token") == token
    assert ours["Host"] == host


def test_a_changed_body_time_or_secret_changes_the_signature() -> None:
    def signature(body: bytes = BODY, now: float = NOW, secret: str = "s") -> str:
        headers = sign(Request("POST", "h", "/", HEADERS, body), Credentials("a", secret),
                       region="us-east-1", service="dynamodb", now=now)  # fmt: skip
        return headers["Authorization"].rsplit("Signature=", 1)[1]

    assert len({signature(), signature(body=BODY + b" "), signature(now=NOW + 1),
                signature(secret="t")}) == 4  # fmt: skip


def test_credentials_repr_shows_no_secret() -> None:
    assert "wJal" not in repr(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", "tok"))
    assert "tok" not in repr(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", "tok"))
