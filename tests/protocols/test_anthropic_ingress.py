"""The Anthropic Messages ingress (`protocols.anthropic`) against the vectors in
vectors/anthropic/.

- requests.json: Messages requests and the Chat request each becomes (checked against the
  OpenAI spec's `CreateChatCompletionRequest`), and invalid requests with the param a
  `BadRequest` must name.
- replies.json: Chat completions (checked against `CreateChatCompletionResponse`) and the
  Message each becomes, validated strictly as the `anthropic` SDK's own `Message`.
- streams.json: Chat chunk streams (checked against `CreateChatCompletionStreamResponse`) and
  the event sequence each becomes. Every event is validated as the SDK's
  `RawMessageStreamEvent`; the bytes are decoded as SSE and replayed through the SDK's own
  accumulator (`accumulate_event`, what `client.messages.stream(...)` runs), whose final
  Message must equal `message_from_completion` of the completion the stream stands for. Every
  stream is also fed with its deltas split one character at a time, and fed to the
  machine in every way its bytes can be cut into two runs of `feed` calls.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from protocols.anthropic import (
    MessagesStream,
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
from protocols.sse import SSEDecoder
from protocols.usage import Usage
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
