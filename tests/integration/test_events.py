"""Static checks of `events/*.json`: API Gateway HTTP API (payload v2.0) and scheduled events.

The events feed `sam local invoke -e` and the handler tests, so they must look like what API
Gateway and EventBridge send: Mangum routes on `requestContext.http.path`, so it must equal
`rawPath`; header names are lower-case; the base64 event carries exactly the plain body.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cfn import REPO

pytestmark = pytest.mark.integration

EVENTS = REPO / "events"
HTTP_EVENTS = {
    # name: (method, path, needs a client credential)
    "chat": ("POST", "/v1/chat/completions", True),
    "chat_stream": ("POST", "/v1/chat/completions", True),
    "chat_base64": ("POST", "/v1/chat/completions", True),
    "models": ("GET", "/v1/models", True),
    "health": ("GET", "/health", False),
    "status": ("GET", "/status", False),
    "bad_json": ("POST", "/v1/chat/completions", True),
}


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return event


def body_bytes(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event["isBase64Encoded"] else body.encode()


def test_the_expected_event_files_and_no_others_exist() -> None:
    assert {p.stem for p in EVENTS.glob("*.json")} == {*HTTP_EVENTS, "scheduled"}


@pytest.mark.parametrize("name", sorted(HTTP_EVENTS))
def test_http_api_event_has_the_v2_shape(name: str) -> None:
    method, path, needs_auth = HTTP_EVENTS[name]
    event = load(name)
    context = event["requestContext"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == context["routeKey"] == "$default"
    assert event["rawPath"] == context["http"]["path"] == path
    assert context["http"]["method"] == method
    assert context["stage"] == "$default"
    assert isinstance(event["rawQueryString"], str)
    assert context["requestId"] and context["domainName"] == event["headers"]["host"]
    assert all(key == key.lower() for key in event["headers"])
    assert ("authorization" in event["headers"]) is needs_auth
    assert isinstance(event["isBase64Encoded"], bool)
    if method == "GET":
        assert "body" not in event
    else:
        assert int(event["headers"]["content-length"]) == len(body_bytes(event))


def test_chat_events_ask_for_gpt_4_1_with_a_bearer_key() -> None:
    chat, stream = json.loads(body_bytes(load("chat"))), json.loads(body_bytes(load("chat_stream")))
    assert chat["model"] == stream["model"] == "gpt-4.1"
    assert chat["messages"] and stream["messages"] == chat["messages"]
    assert "stream" not in chat and stream["stream"] is True
    assert load("chat")["headers"]["authorization"] == "Bearer sk-test"


def test_base64_event_decodes_to_the_same_body_as_chat() -> None:
    plain, encoded = load("chat"), load("chat_base64")
    assert plain["isBase64Encoded"] is False and encoded["isBase64Encoded"] is True
    assert encoded["body"] != plain["body"]
    assert body_bytes(encoded) == plain["body"].encode()


def test_bad_json_event_carries_a_body_that_is_not_json() -> None:
    body = body_bytes(load("bad_json"))
    assert body == b"{not json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


def test_scheduled_event_is_an_eventbridge_scheduled_event() -> None:
    event = load("scheduled")
    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert event["detail"] == {}
    assert event["resources"] and event["resources"][0].startswith("arn:aws:events:")
    assert event["region"] in event["resources"][0]


def test_events_are_plain_json_files() -> None:
    for path in EVENTS.glob("*.json"):
        assert isinstance(json.loads(Path(path).read_text(encoding="utf-8")), dict), path.name
