"""Vectors for asking a Chat stream for its usage and hiding it from a client that did not ask:
the request, each kind of chunk, and whole streams fed whole, byte by byte and split anywhere."""

import json

import pytest

from protocols import sse
from protocols.chat_stream import ChatStreamGate
from protocols.failures import FailureClass, UpstreamFault
from protocols.stream_usage import UsageTap, ask_for_usage, client_asked_for_usage, filter_chunk
from protocols.usage import Usage


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


# What OpenAI sends for a stream asked for usage: compact JSON, `"usage":null` last on every
# chunk, then a chunk with no choices and the usage.
HEAD = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m"'
OPENAI_ASKED = [
    HEAD + ',"choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":null}',
    HEAD + ',"choices":[{"index":0,"delta":{"content":"say \\"usage\\""}}],"usage":null}',
    HEAD + ',"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}',
    HEAD + ',"choices":[],"usage":{"prompt_tokens":19,"completion_tokens":10,'
    '"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0},'
    '"completion_tokens_details":{"reasoning_tokens":0}}}',
]
# What the same stream looks like when nobody asked for usage.
# for a client that did not ask: the usage chunk is gone, the null usages stay (they hide
# nothing, and a chunk without choices may need one to stay well formed)
OPENAI_UNASKED = OPENAI_ASKED[:-1]
OPENAI_USAGE = Usage(input=19, output=10, reasoning=0, cached=0)


def stream(events: list[str]) -> bytes:
    return b"".join(sse.encode_data(data) for data in events) + sse.DONE


def relay(raw: bytes, pieces: list[bytes], *, keep: bool) -> tuple[bytes, Usage | None]:
    """Decode `pieces` as SSE, pass each chunk through a tap, re-frame what it forwards."""
    assert b"".join(pieces) == raw
    decoder, tap, out = sse.SSEDecoder(), UsageTap(keep=keep), bytearray()
    for piece in pieces:
        for event in decoder.feed(piece):
            if event.data == "[DONE]":
                out += sse.DONE
                continue
            forwarded = tap.take(event.data)
            if forwarded is not None:
                out += sse.encode_data(forwarded)
    return bytes(out), tap.usage


def splits(raw: bytes) -> list[list[bytes]]:
    """Whole, byte by byte, and cut in two at every position."""
    cuts = [[raw], [raw[i : i + 1] for i in range(len(raw))]]
    cuts += [[raw[:i], raw[i:]] for i in range(1, len(raw))]
    return cuts


def test_openai_stream_for_a_client_that_did_not_ask() -> None:
    raw = stream(OPENAI_ASKED)
    for pieces in splits(raw):
        assert relay(raw, pieces, keep=False) == (stream(OPENAI_UNASKED), OPENAI_USAGE)


def test_openai_stream_for_a_client_that_asked_is_untouched() -> None:
    raw = stream(OPENAI_ASKED)
    for pieces in splits(raw):
        assert relay(raw, pieces, keep=True) == (raw, OPENAI_USAGE)


def test_groq_stream_keeps_x_groq_and_loses_the_asked_for_usage() -> None:
    x_groq = {"id": "req_1", "usage": {"prompt_tokens": 38, "completion_tokens": 120}}
    head = {"id": "c", "object": "chat.completion.chunk", "model": "llama"}
    text = {**head, "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}
    last = {
        **head,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "x_groq": x_groq,
    }
    usage_only = {**head, "choices": [], "usage": x_groq["usage"]}
    asked = [json.dumps(text), json.dumps(last), json.dumps(usage_only)]
    raw = stream(asked)
    for pieces in splits(raw):
        out, usage = relay(raw, pieces, keep=False)
        assert out == stream(asked[:2])  # x_groq passes: Groq sends it unasked
        assert usage == Usage(input=38, output=120)


def test_usage_on_the_finishing_chunk_is_taken_out_of_it() -> None:
    finish = {
        "id": "c",
        "choices": [{"index": 0, "delta": {"content": "."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2},
    }
    forwarded, usage = filter_chunk(json.dumps(finish), keep=False)
    assert forwarded is not None and json.loads(forwarded) == {
        "id": "c",
        "choices": [{"index": 0, "delta": {"content": "."}, "finish_reason": "stop"}],
    }
    assert usage == Usage(input=5, output=2)
    kept, usage = filter_chunk(json.dumps(finish), keep=True)
    assert kept == json.dumps(finish) and usage == Usage(input=5, output=2)


def test_a_chunk_without_the_word_is_passed_as_is() -> None:
    data = '{"choices": [{"delta": {"content": "hi"}}]}'
    assert filter_chunk(data, keep=False)[0] is data
    raw = data.encode()
    assert filter_chunk(raw, keep=False)[0] is raw
    garbage = "not json at all"
    assert filter_chunk(garbage, keep=False) == (garbage, None)


@pytest.mark.parametrize(
    "data",
    [
        '{"choices":[{"delta":{"content":"usage"}}]}',  # the word as a value
        '{"choices":[{"delta":{}}],"meta":{"usage":null}}',  # a nested key
        '{"choices":[],"usage":{"prompt_tokens":1}',  # not JSON: the gate's to judge
        '["usage"]',
    ],
)
def test_a_chunk_that_only_mentions_usage_is_passed_as_is(data: str) -> None:
    forwarded, usage = filter_chunk(data, keep=False)
    assert forwarded is data
    assert usage is None


def test_a_null_usage_is_left_in_place_however_it_is_spelled() -> None:
    for data in (
        '{"id": "c", "choices": [{"delta": {"content": "x"}}], "usage": null}',
        '{"id":"c","choices":[{"delta":{"content":"x"}}],"usage":null,"obfuscation":"ab"}',
    ):
        assert filter_chunk(data, keep=False) == (data, None)
        assert filter_chunk(data, keep=True) == (data, None)


def test_a_chunk_with_neither_choices_nor_usage_is_never_made() -> None:
    # stripping its null usage would leave a chunk the stream gate must call malformed
    data = '{"id":"x","object":"chat.completion.chunk","usage":null}'
    assert filter_chunk(data, keep=False) == (data, None)


def test_usage_only_chunk_shapes() -> None:
    with_choices_absent = '{"id":"c","usage":{"prompt_tokens":3,"completion_tokens":1}}'
    assert filter_chunk(with_choices_absent, keep=False) == (None, Usage(input=3, output=1))
    # not a usage chunk: it is there for something else, so it passes as it is
    filtered = '{"id":"c","choices":[],"prompt_filter_results":[],"usage":null}'
    assert filter_chunk(filtered, keep=False) == (filtered, None)
    assert filter_chunk(filtered, keep=True) == (filtered, None)


def test_bytes_in_bytes_out() -> None:
    data = OPENAI_ASKED[1].encode()
    assert filter_chunk(data, keep=False)[0] is data
    assert filter_chunk(data, keep=True)[0] is data
    last = OPENAI_ASKED[-1].encode()
    assert filter_chunk(last, keep=False) == (None, OPENAI_USAGE)
    assert filter_chunk(last, keep=True) == (last, OPENAI_USAGE)
    spaced = b'{"choices": [{"delta": {}}], "usage": {"prompt_tokens": 2}}'
    forwarded, usage = filter_chunk(spaced, keep=False)
    assert forwarded == b'{"choices":[{"delta":{}}]}' and usage == Usage(input=2)


def test_the_tap_keeps_the_last_usage_it_was_told() -> None:
    tap = UsageTap(keep=True)
    assert tap.take('{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}')
    tap.take('{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":5}}')
    assert tap.usage == Usage(input=1, output=5)
    tap.take('{"choices":[],"usage":{"total_tokens":"many"}}')  # says nothing we can read
    assert tap.usage == Usage(input=1, output=5)


def test_ask_for_usage_adds_the_option_without_touching_the_payload() -> None:
    payload = {"model": "m", "messages": [], "stream": True}
    sent, asked = ask_for_usage(payload)
    assert sent == {**payload, "stream_options": {"include_usage": True}}
    assert asked is False
    assert "stream_options" not in payload


def test_ask_for_usage_keeps_other_stream_options() -> None:
    payload = {"stream": True, "stream_options": {"include_obfuscation": False}}
    sent, asked = ask_for_usage(payload)
    assert sent["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert payload["stream_options"] == {"include_obfuscation": False}
    assert asked is False
    sent, asked = ask_for_usage({"stream": True, "stream_options": None})
    assert sent["stream_options"] == {"include_usage": True} and asked is False


def test_a_client_that_asked_gets_its_payload_back() -> None:
    payload = {"stream": True, "stream_options": {"include_usage": True}}
    assert ask_for_usage(payload) == (payload, True)
    assert ask_for_usage(payload)[0] is payload
    assert client_asked_for_usage(payload)


@pytest.mark.parametrize(
    "payload",
    [
        {"model": "m"},
        {"stream": False},
        {"stream": False, "stream_options": {"include_usage": True}},
        {"stream": "yes"},
        {"stream": True, "stream_options": "include_usage"},
        {"stream": True, "stream_options": ["include_usage"]},
    ],
)
def test_what_ask_for_usage_leaves_alone(payload: dict) -> None:
    sent, asked = ask_for_usage(payload)
    assert sent is payload
    assert asked is False


def test_include_usage_false_is_not_asking() -> None:
    payload = {"stream": True, "stream_options": {"include_usage": False}}
    sent, asked = ask_for_usage(payload)
    assert sent["stream_options"] == {"include_usage": True} and asked is False


class TappedGate(ChatStreamGate):
    """The wiring proposed for `ChatStreamGate._take`: the tap first, the gate judges what it
    forwards (here as a subclass, since the gate is not this module's)."""

    def __init__(self, keep: bool) -> None:
        super().__init__()
        self.tap = UsageTap(keep=keep)

    def _take(self, data: str) -> bytes:
        forwarded = self.tap.take(data)
        return b"" if forwarded is None else super()._take(forwarded)


def test_the_tap_behind_the_stream_gate() -> None:
    raw = stream(OPENAI_ASKED)
    for keep, expected in ((False, OPENAI_UNASKED), (True, OPENAI_ASKED)):
        for pieces in splits(raw):
            gate = TappedGate(keep=keep)
            out = b"".join(gate.feed(piece) for piece in pieces) + gate.end()
            # the gate consumes [DONE] (the edge writes its own)
            assert out == stream(expected)[: -len(sse.DONE)]
            assert gate.tap.usage == OPENAI_USAGE


def test_an_error_chunk_is_never_dropped() -> None:
    error = '{"error":{"message":"overloaded","code":"server_error"},"usage":{"prompt_tokens":3}}'
    forwarded, usage = filter_chunk(error, keep=False)
    assert forwarded is not None and json.loads(forwarded) == {
        "error": {"message": "overloaded", "code": "server_error"}
    }
    assert usage == Usage(input=3)
    gate = TappedGate(keep=False)
    with pytest.raises(UpstreamFault) as caught:
        gate.feed(sse.encode_data(error))
    assert caught.value.failure.failure is FailureClass.SERVER
