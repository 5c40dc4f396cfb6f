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


# -- streams ---------------------------------------------------------------------------------


def run(vector: dict[str, Any], chunks: list[dict[str, Any]] | None = None) -> list[bytes]:
    """What each call of the machine returned, in order: one entry per chunk, then the end."""
    stream = MessagesStream(MODEL, MESSAGE_ID)
    out = [stream.feed(json.dumps(chunk)) for chunk in chunks or vector["chunks"]]
    if "fail" in vector:
        out.append(stream.fail(**vector["fail"]))
    else:
        usage = vector.get("finish_usage")
        out.append(stream.finish(Usage(**usage) if usage else None))
    return out


def events_of(raw: bytes) -> list[dict[str, Any]]:
    """The stream's events, decoded as SSE; each `event:` name must be its data's type."""
    decoder = SSEDecoder()
    events = decoder.feed(raw)
    assert not decoder.pending
    decoded = [json.loads(event.data) for event in events]
    assert [event.event for event in events] == [data["type"] for data in decoded]
    return decoded


def compact(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for event in events:
        kind = event["type"]
        if kind == "content_block_start":
            out.append(f"{kind} {event['index']} {event['content_block']['type']}")
        elif kind == "content_block_delta":
            out.append(f"{kind} {event['index']} {event['delta']['type']}")
        elif kind == "content_block_stop":
            out.append(f"{kind} {event['index']}")
        elif kind == "message_delta":
            out.append(f"{kind} {event['delta']['stop_reason']}")
        elif kind == "error":
            out.append(f"{kind} {event['error']['type']}")
        else:
            out.append(kind)
    return out


def accumulate(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The final Message, as the SDK's own stream helper builds it from the events."""
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in events:
        parsed = SDK_EVENT.validate_python(event, strict=True)
        snapshot = accumulate_event(event=parsed, current_snapshot=snapshot, json_bufs=buffers)
    assert snapshot is not None
    return strict_message(snapshot.to_dict())


def check_invariants(events: list[dict[str, Any]]) -> None:
    """The order Anthropic's clients rely on: one message_start first, blocks numbered from 0
    and open one at a time, deltas of the open block's kind, message_stop last."""
    kinds = [event["type"] for event in events]
    if kinds == ["error"]:
        return
    assert kinds[0] == "message_start" and kinds.count("message_start") == 1
    start = events[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    strict_message(start)
    delta_kinds = {
        "text": ("text_delta",),
        "thinking": ("thinking_delta", "signature_delta"),
        "tool_use": ("input_json_delta",),
    }
    open_block: tuple[int, str] | None = None
    started = 0
    for event in events[1:]:
        kind = event["type"]
        if kind == "content_block_start":
            assert open_block is None and event["index"] == started
            open_block = (started, event["content_block"]["type"])
            started += 1
        elif kind == "content_block_delta":
            assert open_block is not None and event["index"] == open_block[0]
            assert event["delta"]["type"] in delta_kinds[open_block[1]]
        elif kind == "content_block_stop":
            assert open_block is not None and event["index"] == open_block[0]
            open_block = None
        elif kind == "message_delta":
            assert open_block is None
    if kinds[-1] == "error":
        assert "message_stop" not in kinds
    else:
        assert kinds[-2:] == ["message_delta", "message_stop"]


SPLIT = ("reasoning_content", "reasoning", "content", "refusal")


def split_deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same stream with every text, reasoning and argument delta one character at a
    time; a chunk's finish reason and usage follow its pieces in a chunk of their own."""
    out = []
    for chunk in chunks:
        if not chunk["choices"]:
            out.append(chunk)
            continue
        choice = chunk["choices"][0]
        delta = choice["delta"]
        rest = {k: v for k, v in delta.items() if k not in (*SPLIT, "tool_calls")}
        if rest:
            out.append(piece(chunk, rest))
        for key in SPLIT:
            if isinstance(delta.get(key), str):
                out += [piece(chunk, {key: char}) for char in delta[key]]
        for call in delta.get("tool_calls") or ():
            function = call.get("function", {})
            args = function.get("arguments") or ""
            first = {**call, "function": {**function, "arguments": args[:1]}}
            out.append(piece(chunk, {"tool_calls": [first]}))
            tail = [{"index": call["index"], "function": {"arguments": char}} for char in args[1:]]
            out += [piece(chunk, {"tool_calls": [fragment]}) for fragment in tail]
        if choice["finish_reason"] or "usage" in chunk or "x_groq" in chunk:
            out.append(piece(chunk, {}, choice["finish_reason"], last=True))
    return out


def piece(
    chunk: dict[str, Any], delta: dict[str, Any], finish: str | None = None, last: bool = False
) -> dict[str, Any]:
    choice = {**chunk["choices"][0], "delta": delta, "finish_reason": finish}
    out = {k: v for k, v in chunk.items() if last or k not in ("usage", "x_groq")}
    return out | {"choices": [choice]}


def aggregate(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The non-streamed completion a stream stands for (calls told apart as the stream does)."""
    texts = dict.fromkeys(SPLIT, "")
    calls: list[dict[str, Any]] = []
    finish, usage = None, None
    for chunk in chunks:
        usage = chunk.get("usage") or chunk.get("x_groq", {}).get("usage") or usage
        for choice in chunk["choices"]:
            finish = choice["finish_reason"] or finish
            delta = choice["delta"]
            for key in SPLIT:
                texts[key] += delta.get(key) or ""
            for call in delta.get("tool_calls") or ():
                if (
                    not calls
                    or call["index"] != calls[-1]["index"]
                    or call.get("id", calls[-1]["id"]) != calls[-1]["id"]
                ):
                    function = {"name": "", "arguments": ""}
                    calls.append(
                        {"index": call["index"], "id": call.get("id"), "function": function}
                    )
                function = call.get("function", {})
                calls[-1]["function"]["name"] += function.get("name") or ""
                calls[-1]["function"]["arguments"] += function.get("arguments") or ""
    message = {
        "role": "assistant",
        "content": texts["content"] + texts["refusal"] or None,
        "reasoning_content": texts["reasoning_content"] or texts["reasoning"] or None,
    }
    if calls:
        message["tool_calls"] = [
            {"id": call["id"], "type": "function", "function": call["function"]} for call in calls
        ]
    completion = {"choices": [{"index": 0, "message": message, "finish_reason": finish}]}
    return completion | ({"usage": usage} if usage else {})


@pytest.mark.parametrize("vector", STREAMS, ids=lambda v: v["name"])
def test_stream_vector(vector: dict[str, Any]) -> None:
    if "upstream_note" not in vector:
        for chunk in vector["chunks"]:
            validate(chunk, "CreateChatCompletionStreamResponse")
    events = events_of(b"".join(run(vector)))
    check_invariants(events)
    assert compact(events) == vector["events"]
    if "fail" in vector:
        assert events[-1] == {
            "type": "error",
            "error": {"type": vector["fail"]["error_type"], "message": vector["fail"]["message"]},
        }
        return
    start = events[0]["message"]
    assert (start["id"], start["model"]) == (MESSAGE_ID, MODEL)
    assert start["usage"] == vector.get("start_usage", usage_zero())
    assert events[-2]["usage"] == vector["usage"]
    message = accumulate(events)
    assert (
        message["usage"]
        == strict_message(events[0]["message"] | {"usage": vector["usage"]})["usage"]
    )
    completion = aggregate(vector["chunks"])
    if "finish_usage" in vector:  # what the caller hands `finish` overrides the chunks' usage
        completion["usage"] = {
            "prompt_tokens": 30,
            "completion_tokens": 4,
            "prompt_tokens_details": {"cached_tokens": 10},
        }
    reply = message_from_completion(completion, model=MODEL, message_id=MESSAGE_ID)
    assert message == strict_message(reply)


def usage_zero() -> dict[str, int]:
    return {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


@pytest.mark.parametrize("vector", STREAMS, ids=lambda v: v["name"])
def test_stream_vector_one_character_at_a_time(vector: dict[str, Any]) -> None:
    whole = events_of(b"".join(run(vector)))
    events = events_of(b"".join(run(vector, split_deltas(vector["chunks"]))))
    check_invariants(events)

    def collapse(kinds: list[str]) -> list[str]:
        return [k for i, k in enumerate(kinds) if not (k.endswith("_delta") and kinds[i - 1] == k)]

    assert collapse(compact(events)) == collapse(compact(whole))
    if "fail" not in vector:
        assert accumulate(events) == accumulate(whole)


@pytest.mark.parametrize("vector", STREAMS, ids=lambda v: v["name"])
def test_stream_every_call_returns_whole_events(vector: dict[str, Any]) -> None:
    """Cut the run of calls anywhere: what came before the cut is whole SSE events, and
    `started` says whether any of it was sent; decoded byte by byte, the bytes are the same."""
    stream = MessagesStream(MODEL, MESSAGE_ID)
    sent = b""
    for chunk in vector["chunks"]:
        sent += stream.feed(json.dumps(chunk))
        events_of(sent)  # no event left half made
        assert stream.started == (b"message_start" in sent)
    whole = b"".join(run(vector))
    assert whole.startswith(sent)
    decoder = SSEDecoder()
    byte_by_byte = [e for i in range(len(whole)) for e in decoder.feed(whole[i : i + 1])]
    assert [json.loads(e.data) for e in byte_by_byte] == events_of(whole)


def test_stream_role_only_opener_sends_nothing() -> None:
    stream = MessagesStream(MODEL, MESSAGE_ID)
    assert (
        stream.feed(json.dumps({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})) == b""
    )
    assert stream.feed(json.dumps({"choices": [], "usage": {"prompt_tokens": 3}})) == b""
    assert not stream.started
    assert stream.ping() == b'event: ping\ndata: {"type":"ping"}\n\n'
    assert not stream.started
    assert events_of(stream.ping()) == [{"type": "ping"}]


def test_stream_ends_once() -> None:
    stream = MessagesStream(MODEL, MESSAGE_ID)
    stream.feed(json.dumps({"choices": [{"index": 0, "delta": {"content": "x"}}]}))
    assert stream.finish().endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    assert stream.finish() == b"" and stream.fail("api_error", "late") == b""
    assert stream.ping() == b""
    with pytest.raises(RuntimeError):
        stream.feed(json.dumps({"choices": []}))


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "[1]",
        '{"choices": {}}',
        '{"choices": [{"index": 0, "delta": "x"}]}',
        '{"choices": [{"index": 0, "delta": {"content": 5}}]}',
        '{"choices": [{"index": 0, "delta": {}, "finish_reason": "error"}]}',
        '{"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": '
        '{"arguments": {"a": 1}}}]}}]}',
        '{"error": {"message": "overloaded", "code": 529}}',
    ],
)
def test_stream_refuses_what_is_not_a_chunk(data: str) -> None:
    stream = MessagesStream(MODEL, MESSAGE_ID)
    with pytest.raises(UpstreamReplyError):
        stream.feed(data)


def test_stream_refuses_interleaved_calls_and_keeps_what_it_made() -> None:
    stream = MessagesStream(MODEL, MESSAGE_ID)

    def call(index: int, **function: str) -> str:
        fragment = {"index": index, "id": f"call_{index}", "function": function}
        return json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [fragment]}}]})

    stream.feed(call(0, name="f", arguments="{"))
    stream.feed(call(1, name="g", arguments="{}"))
    with pytest.raises(UpstreamReplyError):
        stream.feed(call(0, arguments="}"))
    events = events_of(stream.fail("api_error", "broken"))
    assert compact(events) == ["error api_error"]


def test_stream_refuses_a_call_that_never_got_a_name() -> None:
    stream = MessagesStream(MODEL, MESSAGE_ID)
    fragment = {"index": 0, "id": "call_0", "function": {"arguments": "{}"}}
    stream.feed(json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [fragment]}}]}))
    assert not stream.started
    with pytest.raises(UpstreamReplyError):
        stream.finish()


def test_stream_mints_a_tool_use_id_the_upstream_left_out() -> None:
    stream = MessagesStream(MODEL, MESSAGE_ID)
    fragment = {"index": 0, "function": {"name": "f", "arguments": "{}"}}
    raw = stream.feed(json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [fragment]}}]}))
    block = events_of(raw)[1]["content_block"]
    assert block["id"].startswith("toolu_") and len(block["id"]) == 30


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
