"""A `kind: anthropic` upstream behind Chat clients and Messages clients: the vectors in
vectors/anthropic_upstream/.

Every Messages request we build is validated against the `anthropic` package's request types,
every upstream Message and stream event fed in against its reply types, and every completion
and chunk we make against the `openai` package's. Streams are fed whole, byte by byte and in
odd pieces; chunks are accumulated as a client would, into the final text and tool calls.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic.types
import openai.types.chat
import pydantic
import pytest
from anthropic.types import message_create_params

from protocols import sse
from protocols.anthropic.native import (
    MessagesNativeGate,
    check_native_message,
    without_unsigned_thinking,
)
from protocols.anthropic.upstream_reply import (
    check_message,
    completion_body_from_message_body,
    completion_from_message,
    finish_reason,
    usage_of_message,
)
from protocols.anthropic.upstream_request import messages_from_chat
from protocols.anthropic.upstream_stream import MessagesChatGate
from protocols.errors import BadRequest
from protocols.failures import FailureClass, UpstreamFault, classify_response, shown
from protocols.ratelimit_headers import WindowState, retry_after_seconds, window_states
from protocols.sse import SSEDecoder
from protocols.stream_gate import StreamGate
from protocols.stream_usage import UsageTap
from protocols.usage import Usage
from tests.schema import errors

VECTORS = Path(__file__).parent / "vectors" / "anthropic_upstream"
REQUESTS = json.loads((VECTORS / "requests.json").read_text())
REPLIES = json.loads((VECTORS / "replies.json").read_text())
STREAMS = json.loads((VECTORS / "streams.json").read_text())
FAILURES = json.loads((VECTORS / "failures.json").read_text())
NOW = 1_700_000_000.0
# Anthropic is retiring these: the SDK's request types no longer have them (see upstream_request)
SAMPLING = ("temperature", "top_p", "top_k")


class _Request(message_create_params.MessageCreateParamsNonStreaming):
    __pydantic_config__ = pydantic.ConfigDict(extra="forbid")  # type: ignore[misc]


REQUEST = pydantic.TypeAdapter(_Request)
EVENT = pydantic.TypeAdapter(anthropic.types.RawMessageStreamEvent)


def drained(value: Any) -> Any:
    """A validated TypedDict with its lazy iterables consumed (which validates their items)."""
    if isinstance(value, dict):
        return {key: drained(item) for key, item in value.items()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return [drained(item) for item in value]


def by_name(vectors: list[dict[str, Any]]) -> Any:
    return pytest.mark.parametrize("vector", vectors, ids=[v["name"] for v in vectors])


# --- requests ---------------------------------------------------------------------------------


@by_name(REQUESTS["translate"])
def test_request_translation(vector: dict[str, Any]) -> None:
    chat = copy.deepcopy(vector["chat"])
    if "nonstandard" not in vector:
        assert errors(chat, "CreateChatCompletionRequest") == []
    translated = messages_from_chat(chat, "claude-x")
    assert translated == vector["messages"]
    assert chat == vector["chat"]  # the client's payload is not changed
    sent = {k: v for k, v in translated.items() if k not in ("stream", *SAMPLING)}
    drained(REQUEST.validate_python(sent))
    assert messages_from_chat(chat, "claude-x", sampling=False) == {
        k: v for k, v in translated.items() if k not in SAMPLING
    }


@by_name(REQUESTS["refuse"])
def test_request_that_anthropic_cannot_take(vector: dict[str, Any]) -> None:
    with pytest.raises(BadRequest) as caught:
        messages_from_chat(vector["chat"], "claude-x")
    assert caught.value.param == vector["param"]


def test_the_validation_itself_refuses_a_bad_request() -> None:
    bad = {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [{"x": 1}]}]}
    with pytest.raises(pydantic.ValidationError):
        drained(REQUEST.validate_python(bad))
    with pytest.raises(pydantic.ValidationError):
        REQUEST.validate_python({**bad, "messages": [], "n": 2})


def test_default_max_tokens_is_the_callers() -> None:
    chat = {"messages": [{"role": "user", "content": "x"}]}
    assert messages_from_chat(chat, "c", default_max_tokens=512)["max_tokens"] == 512


# --- replies ----------------------------------------------------------------------------------


@by_name(REPLIES["translate"])
def test_reply_translation(vector: dict[str, Any]) -> None:
    anthropic.types.Message.model_validate(vector["message"])
    completion = completion_from_message(vector["message"], created=1_700_000_000)
    assert completion == vector["completion"]
    openai.types.chat.ChatCompletion.model_validate(completion)
    assert errors(completion, "CreateChatCompletionResponse") == []
    body = completion_body_from_message_body(json.dumps(vector["message"]).encode())
    assert {**json.loads(body), "created": 1_700_000_000} == vector["completion"]
    usage = vector["completion"]["usage"]
    assert usage_of_message(vector["message"]) == Usage(
        input=usage["prompt_tokens"],
        output=usage["completion_tokens"],
        cached=usage["prompt_tokens_details"]["cached_tokens"],
    )


def test_reply_model_can_be_renamed() -> None:
    message = REPLIES["translate"][0]["message"]
    assert completion_from_message(message, model="coding-elite")["model"] == "coding-elite"
    assert usage_of_message({"content": []}) is None


@pytest.mark.parametrize(("stop", "finish"), sorted(REPLIES["finish_reasons"].items()))
def test_finish_reasons(stop: str, finish: str) -> None:
    assert finish_reason(stop) == finish


@by_name(REPLIES["check"])
@pytest.mark.parametrize("check", [check_message, check_native_message])
def test_reply_check(vector: dict[str, Any], check: Any) -> None:
    failure = check(json.dumps(vector["body"]).encode())
    if vector["failure"] is None:
        anthropic.types.Message.model_validate(vector["body"])
        assert failure is None
        return
    assert failure is not None and failure.failure.value == vector["failure"]
    assert failure.status == 200 and failure.type == vector.get("type")


@pytest.mark.parametrize("body", [b"", b"{", b"[" * 5000 + b"]" * 5000, b'"message"'])
def test_reply_check_of_what_is_not_json(body: bytes) -> None:
    failure = check_message(body)
    assert failure is not None and failure.failure is FailureClass.MALFORMED


# --- streams ----------------------------------------------------------------------------------


def framed(events: list[dict[str, Any]], *, crlf: bool = False) -> bytes:
    """The events as Anthropic sends them (`event:` then `data:`), each validated first."""
    out = b""
    for event in events:
        if event["type"] == "error":
            anthropic.types.ErrorResponse.model_validate(event)
        elif event["type"] != "ping":
            EVENT.validate_python(event)
        text = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"
        out += (text.replace("\n", "\r\n").replace("data: ", "data:") if crlf else text).encode()
    return out


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


SIZES = [0, 1, 7]  # 0: whole


def run(gate: StreamGate, data: bytes, size: int) -> tuple[bytes, FailureClass | None, str | None]:
    """Feed a gate the way `actors.upstream_stream` does: what passed, and how it failed."""
    out = b""
    try:
        for piece in pieces(data, size or max(len(data), 1)):
            out += gate.feed(piece)
            if gate.fault is not None:
                raise UpstreamFault(gate.fault)
        out += gate.end()  # type: ignore[attr-defined]
    except UpstreamFault as fault:
        return out, fault.failure.failure, fault.failure.code
    return out, None, None


def accumulated(out: bytes) -> dict[str, Any]:
    """The chunks a client got, each validated, folded as an OpenAI client folds them."""
    result: dict[str, Any] = {"content": None, "reasoning": None, "tool_calls": {}, "chunks": []}
    for event in sse.SSEDecoder().feed(out):
        chunk = json.loads(event.data)
        openai.types.chat.ChatCompletionChunk.model_validate(chunk)
        assert errors(chunk, "CreateChatCompletionStreamResponse") == []
        result["chunks"].append(chunk)
        if chunk.get("usage"):
            result["usage"] = chunk["usage"]
        for choice in chunk["choices"]:
            delta = choice["delta"]
            for name, field in (("content", "content"), ("reasoning", "reasoning_content")):
                if delta.get(field):
                    result[name] = (result[name] or "") + delta[field]
            for call in delta.get("tool_calls", []):
                into = result["tool_calls"].setdefault(call["index"], {"arguments": ""})
                into.update({k: call[k] for k in ("id",) if k in call})
                function = call.get("function", {})
                into.update({k: function[k] for k in ("name",) if k in function})
                into["arguments"] += function.get("arguments", "")
            if choice.get("finish_reason"):
                result["finish_reason"] = choice["finish_reason"]
    return result


@by_name(STREAMS["streams"])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("include_usage", [True, False])
def test_chat_stream(vector: dict[str, Any], size: int, include_usage: bool) -> None:
    expect = vector["expect"]
    gate = MessagesChatGate(usage=UsageTap(keep=include_usage), created=1_700_000_000)
    out, failure, _ = run(gate, framed(vector["events"]), size)
    assert failure is None and gate.committed
    got = accumulated(out)
    assert got["content"] == expect["content"]
    assert got["reasoning"] == expect["reasoning"]
    assert [got["tool_calls"][i] for i in sorted(got["tool_calls"])] == expect["tool_calls"]
    assert sorted(got["tool_calls"]) == list(range(len(expect["tool_calls"])))
    assert got["finish_reason"] == expect["finish_reason"]
    assert got.get("usage") == (expect["usage"] if include_usage else None)
    if include_usage:  # the usage chunk comes last, after the finish, as OpenAI sends it
        assert (
            got["chunks"][-1]["choices"] == [] and got["chunks"][-2]["choices"][0]["finish_reason"]
        )
    assert gate.usage is not None and gate.usage.usage == Usage.from_chat(expect["usage"])
    assert {(c["id"], c["model"], c["created"]) for c in got["chunks"]} == {
        (expect["id"], expect["model"], 1_700_000_000)
    }
    assert got["chunks"][0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}


@by_name(STREAMS["streams"])
def test_chat_stream_holds_until_content(vector: dict[str, Any]) -> None:
    held = vector["expect"]["held_events"]
    gate = MessagesChatGate(usage=UsageTap(keep=False))
    assert gate.feed(framed(vector["events"][:held])) == b"" and not gate.committed
    assert gate.feed(framed(vector["events"][held : held + 1])) != b"" and gate.committed


@by_name(STREAMS["streams"])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("crlf", [False, True])
def test_native_stream(vector: dict[str, Any], size: int, crlf: bool) -> None:
    events = vector["events"]
    gate = MessagesNativeGate()
    out, failure, code = run(gate, framed(events, crlf=crlf), size)
    expected = b"".join(sse.encode_event(e["type"], json.dumps(e)) for e in events)
    assert out == expected  # re-framed, the upstream's data text kept
    if vector["expect"].get("native_cut"):
        assert (failure, code) == (FailureClass.CONNECT, "upstream_cut")
    else:
        assert failure is None and gate.done
    usage = vector["expect"]["usage"]
    assert gate.usage.usage == Usage.from_chat(usage)


@by_name(STREAMS["streams"])
def test_native_stream_holds_until_content(vector: dict[str, Any]) -> None:
    held = vector["expect"]["held_events"]
    gate = MessagesNativeGate()
    assert gate.feed(framed(vector["events"][:held])) == b"" and not gate.committed
    start = vector["events"][0]["message"]["usage"]
    assert gate.usage.usage is not None and gate.usage.usage.output == start["output_tokens"]
    assert gate.feed(framed(vector["events"][held : held + 1])) != b"" and gate.committed


@by_name(STREAMS["failures"])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("native", [False, True])
def test_stream_failures(vector: dict[str, Any], size: int, native: bool) -> None:
    gate: MessagesChatGate | MessagesNativeGate
    gate = MessagesNativeGate() if native else MessagesChatGate(usage=UsageTap(keep=False))
    out, failure, code = run(gate, framed(vector["events"]), size)
    assert failure is not None and failure.value == vector["failure"]
    assert code == vector.get("code")
    assert gate.committed is vector["committed"]
    assert bool(out) is vector["committed"]
    if vector["committed"] and not native:
        assert accumulated(out)["content"] == vector["content"]


@pytest.mark.parametrize("native", [False, True])
def test_malformed_events(native: bool) -> None:
    for data in (b"data: not json\n\n", b'data: {"no": "type"}\n\n', b"data: [1]\n\n"):
        gate = MessagesNativeGate() if native else MessagesChatGate()
        with pytest.raises(UpstreamFault) as caught:
            gate.feed(data)
        assert caught.value.failure.failure is FailureClass.MALFORMED


def test_unknown_events_and_blocks_pass_quietly() -> None:
    events = STREAMS["streams"][0]["events"]
    extra = b'event: future_event\ndata: {"type": "future_event"}\n\n'
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta"}}
    block = sse.encode_data(json.dumps(delta))
    gate = MessagesChatGate(usage=UsageTap(keep=False))
    out = gate.feed(framed(events[:2]) + extra + block + framed(events[2:])) + gate.end()
    assert accumulated(out)["content"] == "Hello!"


# --- failures and rate-limit windows ----------------------------------------------------------


@by_name(FAILURES["responses"])
def test_anthropic_error_replies(vector: dict[str, Any]) -> None:
    if vector.get("sdk", True):  # the SDK's types lack `request_too_large`, which its docs list
        anthropic.types.ErrorResponse.model_validate(vector["body"])
    body = json.dumps(vector["body"]).encode()
    failure = classify_response(vector["status"], body, vector["headers"], now=NOW)
    assert failure.failure.value == vector["failure"]
    assert failure.type == vector["type"]
    assert failure.message == vector["body"]["error"]["message"]
    assert failure.retry_after == vector.get("retry_after")
    assert shown(failure, ["sk-ant-secret"]) == failure  # the types are fit to show as they are


def test_anthropic_rate_limit_windows() -> None:
    vector = FAILURES["windows"]
    states = window_states(vector["headers"], now=NOW)
    assert states == tuple(WindowState(*state) for state in vector["states"])
    assert retry_after_seconds(vector["headers"], now=NOW) == vector["retry_after"]


def test_a_tool_without_arguments_streams_an_empty_object() -> None:
    """Anthropic streams `input: {}` with no (or an empty) input_json_delta: a Chat client
    must still get arguments it can parse, as the non-streamed translation gives."""
    events = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "c",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 1, "output_tokens": 0},
            },
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t1", "name": "now", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 3},
        },
        {"type": "message_stop"},
    ]
    raw = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
    gate = MessagesChatGate(decoder=SSEDecoder())
    out = gate.feed(raw) + gate.end()
    arguments = ""
    for event in SSEDecoder().feed(out):
        for choice in json.loads(event.data).get("choices", []):
            for call in choice["delta"].get("tool_calls") or []:
                arguments += call["function"].get("arguments", "")
    assert json.loads(arguments) == {}


def test_thinking_baton_made_is_left_out_for_a_native_upstream() -> None:
    theirs = {"type": "thinking", "thinking": "real", "signature": "EqQBsig"}
    ours = {"type": "thinking", "thinking": "from a Chat upstream", "signature": ""}
    payload = {
        "model": "m",
        "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": [ours, {"type": "text", "text": "b"}]},
            {"role": "user", "content": "c"},
            {"role": "assistant", "content": [theirs, {"type": "text", "text": "d"}]},
            {"role": "user", "content": "e"},
            {"role": "assistant", "content": [ours]},
            {"role": "user", "content": "f"},
        ],
    }
    cleaned = without_unsigned_thinking(payload)
    assert cleaned["messages"][1]["content"] == [{"type": "text", "text": "b"}]
    assert cleaned["messages"][3]["content"][0] == theirs  # Anthropic's own: kept, signed
    assert cleaned["messages"][5]["content"] == [{"type": "text", "text": "(no answer)"}]
    assert payload["messages"][1]["content"][0] == ours  # the client's request untouched
    signed_only = {**payload, "messages": payload["messages"][2:5]}
    assert without_unsigned_thinking(signed_only) is signed_only


def test_a_prefill_turns_thinking_off() -> None:
    chat = {
        "model": "m",
        "reasoning_effort": "high",
        "messages": [
            {"role": "user", "content": "write json"},
            {"role": "assistant", "content": "{"},
        ],
    }
    assert "thinking" not in messages_from_chat(chat, "claude-x")
    chat["messages"] = chat["messages"][:1]
    assert messages_from_chat(chat, "claude-x")["thinking"]["type"] == "enabled"
