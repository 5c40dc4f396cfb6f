"""`MessagesStream` against the vectors in vectors/anthropic/streams.json.

Each vector is an upstream Chat stream (chunks that match `CreateChatCompletionStreamResponse`
unless a note says which liberty a real server takes), how it ends (`finish`, with the usage the
caller knows if any, or `fail`), the events expected and the usage of `message_start` and
`message_delta`. Every event is validated strictly as the `anthropic` SDK's
`RawMessageStreamEvent`; the bytes are decoded as SSE and replayed through the SDK's own
accumulator (`accumulate_event`, what `client.messages.stream(...)` runs), whose final Message
must equal `message_from_completion` of the completion the stream stands for. Every stream is
also run with its deltas split one character at a time, cut after every chunk (what came
before a cut is whole events), and decoded byte by byte; and one is read by the SDK's client
itself over a mock transport, pings and all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from protocols.anthropic import MessagesStream, message_from_completion
from protocols.responses import UpstreamReplyError
from protocols.sse import SSEDecoder
from protocols.usage import Usage
from tests.schema import validate

STREAMS = json.loads((Path(__file__).parent / "vectors" / "anthropic" / "streams.json").read_text())
MODEL, MESSAGE_ID = "claude-sonnet-4-5", "msg_01ABCdef"
SDK_EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


def strict_message(message: dict[str, Any]) -> dict[str, Any]:
    """The Message as the SDK's own type reads it (every field, defaults filled in)."""
    return Message.model_validate(message, strict=True).model_dump()


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


@pytest.mark.parametrize("vector", STREAMS, ids=lambda v: v["name"])
def test_stream_started_early_for_a_keepalive_is_the_same_stream(vector: dict[str, Any]) -> None:
    """`start` before the first chunk (the edge does, to send pings after message_start):
    one message_start (whose usage cannot know the prompt yet), then the very events the
    stream would have sent anyway, and the same final Message (message_delta carries the
    whole usage)."""
    stream = MessagesStream(MODEL, MESSAGE_ID)
    opened = stream.start() + stream.ping() + stream.ping()
    assert stream.started and stream.start() == b""
    raw = opened + b"".join(run_on(stream, vector))
    events = [event for event in events_of(raw) if event["type"] != "ping"]
    check_invariants(events)
    lazy = [e for e in events_of(b"".join(run(vector))) if e["type"] != "ping"]
    assert events[0]["type"] == "message_start"
    assert events[1:] == [e for e in lazy if e["type"] != "message_start"]
    if lazy[-1]["type"] == "message_stop":
        assert accumulate(events) == accumulate(lazy)


def run_on(stream: MessagesStream, vector: dict[str, Any]) -> list[bytes]:
    out = [stream.feed(json.dumps(chunk)) for chunk in vector["chunks"]]
    if "fail" in vector:
        out.append(stream.fail(**vector["fail"]))
    else:
        usage = vector.get("finish_usage")
        out.append(stream.finish(Usage(**usage) if usage else None))
    return out


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


def sdk_client(status: int, body: bytes) -> anthropic.Anthropic:
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, headers={"content-type": "text/event-stream"}, content=body)

    transport = httpx2.MockTransport(answer)
    return anthropic.Anthropic(
        api_key="test",
        base_url="http://baton.test",
        max_retries=0,
        http_client=httpx2.Client(transport=transport),
    )


def sdk_stream(client: anthropic.Anthropic) -> Any:
    return client.messages.stream(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )


def test_the_sdk_client_reads_a_stream_with_pings_anywhere() -> None:
    vector = next(v for v in STREAMS if v["name"] == "text_then_tool_call_args_in_many_pieces")
    stream = MessagesStream(MODEL, MESSAGE_ID)
    body = stream.ping()
    for chunk in vector["chunks"]:
        body += stream.feed(json.dumps(chunk)) + stream.ping()
    body += stream.finish()
    with sdk_stream(sdk_client(200, body)) as events:
        final = events.get_final_message()
    reply = message_from_completion(aggregate(vector["chunks"]), model=MODEL, message_id=MESSAGE_ID)
    assert strict_message(final.to_dict()) == strict_message(reply)
    assert final.content[1].input == {"path": "a.py"}


def test_the_sdk_client_raises_on_the_error_event() -> None:
    stream = MessagesStream(MODEL, MESSAGE_ID)
    body = stream.feed(json.dumps({"choices": [{"index": 0, "delta": {"content": "Hal"}}]}))
    body += stream.fail("overloaded_error", "upstream overloaded")
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        with sdk_stream(sdk_client(200, body)) as events:
            for event in events:
                seen.append(event.type)
    assert seen[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "upstream overloaded"},
    }


def test_arguments_that_are_no_json_reach_the_sdk_as_an_empty_input() -> None:
    """A local model streams `<tool>...</tool>` as arguments: sent as they came, the SDK's
    accumulator would fail the whole stream; checked whole at the call's end, they are `{}`,
    as the non-streamed reply makes them."""
    call = {"index": 0, "id": "c1", "type": "function"}
    chunks = [
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [{**call, "function": {"name": "f", "arguments": "<tool>x"}}]
                    },
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "</tool>"}}]},
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    events = events_of(b"".join(run({"chunks": chunks})))
    message = accumulate(events)
    assert message["content"][0]["type"] == "tool_use"
    assert message["content"][0]["input"] == {}
    assert not any(e.get("delta", {}).get("type") == "input_json_delta" for e in events)
