"""The Anthropic Messages ingress (`protocols.anthropic`) against the vectors in
vectors/anthropic/.

- requests.json: Messages requests and the Chat request each becomes (checked against the
  OpenAI spec's `CreateChatCompletionRequest`), and invalid requests with the param a
  `BadRequest` must name.
- replies.json: Chat completions (checked against `CreateChatCompletionResponse`) and the
  Message each becomes, validated strictly as the `anthropic` SDK's own `Message`.
- errors: the status and envelope of every baton error.
Streams are in test_anthropic_ingress_stream.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from protocols.anthropic import (
    anthropic_error,
    error_body,
    error_type_for,
    message_from_completion,
    messages_request_from_payload,
    new_message_id,
    parse_messages_request,
)
from protocols.errors import (
    AllRateLimited,
    BadRequest,
    DeadlineExceeded,
    GatewayOverloaded,
    InternalError,
    ModelNotFound,
    NoCandidate,
    PayloadTooLarge,
    Unauthorized,
    UpstreamFailed,
    UpstreamRejected,
)
from protocols.responses import UpstreamReplyError
from tests.schema import validate

VECTORS = Path(__file__).parent / "vectors" / "anthropic"
REQUESTS = json.loads((VECTORS / "requests.json").read_text())
REPLIES = json.loads((VECTORS / "replies.json").read_text())
STREAMS = json.loads((VECTORS / "streams.json").read_text())
MODEL, MESSAGE_ID = "claude-sonnet-4-5", "msg_01ABCdef"
SDK_EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


# -- requests --------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", REQUESTS["translate"], ids=lambda v: v["name"])
def test_request_translates(vector: dict[str, Any]) -> None:
    request = messages_request_from_payload(copy.deepcopy(vector["request"]))
    assert request.chat == vector["chat"]
    assert list(request.dropped_tools) == vector.get("dropped_tools", [])
    assert request.model == vector["request"]["model"]
    assert request.stream is bool(vector["request"].get("stream"))
    assert request.payload == vector["request"]
    validate(request.chat, "CreateChatCompletionRequest")


@pytest.mark.parametrize("vector", REQUESTS["translate"], ids=lambda v: v["name"])
def test_request_from_body_is_the_same(vector: dict[str, Any]) -> None:
    body = json.dumps(vector["request"]).encode()
    assert parse_messages_request(body) == messages_request_from_payload(vector["request"])


def test_request_is_not_touched_and_its_repr_holds_no_content() -> None:
    vector = next(v for v in REQUESTS["translate"] if v["name"] == "tool_round_trip_history")
    before = json.dumps(vector["request"], sort_keys=True)
    request = messages_request_from_payload(vector["request"])
    assert json.dumps(vector["request"], sort_keys=True) == before
    assert "Paris" not in repr(request) and MODEL in repr(request)


@pytest.mark.parametrize("vector", REQUESTS["refuse"], ids=lambda v: v["name"])
def test_request_refused_with_the_offending_param(vector: dict[str, Any]) -> None:
    with pytest.raises(BadRequest) as caught:
        messages_request_from_payload(vector["request"])
    assert caught.value.param == vector["param"]
    assert caught.value.status == 400
    status, body = anthropic_error(caught.value)
    assert status == 400
    assert json.loads(body)["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("body", [b"", b"  ", b"{", b"[1]", b'"x"', b"\xff\xfe"], ids=repr)
def test_request_body_that_is_not_a_json_object(body: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_messages_request(body)
    assert caught.value.param is None


# -- replies ---------------------------------------------------------------------------------


def strict_message(message: dict[str, Any]) -> dict[str, Any]:
    """The Message as the SDK's own type reads it (every field, defaults filled in)."""
    return Message.model_validate(message, strict=True).model_dump()


@pytest.mark.parametrize("vector", REPLIES["translate"], ids=lambda v: v["name"])
def test_reply_translates(vector: dict[str, Any]) -> None:
    if "upstream_note" not in vector:  # else a liberty real servers take, said in the note
        validate(vector["completion"], "CreateChatCompletionResponse")
    message = message_from_completion(vector["completion"], model=MODEL, message_id=MESSAGE_ID)
    strict_message(message)
    assert message == {
        "id": MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": vector["content"],
        "stop_reason": vector["stop_reason"],
        "stop_sequence": None,
        "usage": vector["usage"],
    }


@pytest.mark.parametrize("vector", REPLIES["refuse"], ids=lambda v: v["name"])
def test_reply_refuses_what_is_not_a_completion(vector: dict[str, Any]) -> None:
    with pytest.raises(UpstreamReplyError) as caught:
        message_from_completion(vector["completion"], model=MODEL, message_id=MESSAGE_ID)
    assert caught.value.error == vector.get("error")


def test_reply_mints_a_tool_use_id_the_upstream_left_out() -> None:
    completion = {
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "tool_calls": [
                        {"type": "function", "function": {"name": "f", "arguments": "{}"}},
                        {"id": "", "type": "function", "function": {"name": "g", "arguments": ""}},
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ]
    }
    blocks = message_from_completion(completion, model=MODEL, message_id=MESSAGE_ID)["content"]
    ids = [block["id"] for block in blocks]
    assert all(i.startswith("toolu_") and len(i) == 30 for i in ids)
    assert len(set(ids)) == 2


def test_message_ids_look_like_anthropics() -> None:
    ids = {new_message_id() for _ in range(100)}
    assert len(ids) == 100
    for message_id in ids:
        assert message_id.startswith("msg_") and len(message_id) == 28
        assert message_id[4:].isalnum() and message_id.isascii()


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (405, "invalid_request_error"),
        (409, "invalid_request_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
        (200, "api_error"),
    ],
)
def test_error_type_for_status(status: int, error_type: str) -> None:
    assert error_type_for(status) == error_type


def test_error_body_is_anthropics_envelope() -> None:
    body = error_body("overloaded_error", "try again")
    assert json.loads(body) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "try again"},
    }


@pytest.mark.parametrize(
    ("error", "status", "error_type"),
    [
        (BadRequest("bad", param="messages"), 400, "invalid_request_error"),
        (Unauthorized("no key"), 401, "authentication_error"),
        (ModelNotFound("no such model"), 404, "not_found_error"),
        (PayloadTooLarge("too big"), 413, "request_too_large"),
        (
            UpstreamRejected(422, "nope", type=None, code=None, param=None),
            422,
            "invalid_request_error",
        ),
        (
            AllRateLimited("every candidate is rate limited", retry_after=3.2),
            429,
            "rate_limit_error",
        ),
        (InternalError("a bug"), 500, "api_error"),
        (UpstreamFailed("all failed"), 502, "api_error"),
        (NoCandidate("none up"), 503, "overloaded_error"),
        (GatewayOverloaded("queue full"), 503, "overloaded_error"),
        (DeadlineExceeded("out of time"), 504, "timeout_error"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_anthropic_error_keeps_the_status(error: Any, status: int, error_type: str) -> None:
    got_status, body = anthropic_error(error)
    assert got_status == status
    assert json.loads(body) == {
        "type": "error",
        "error": {"type": error_type, "message": error.message},
    }
