"""Vectors for the gate a Chat stream passes through: whole, byte by byte, split anywhere."""

import json

import pytest

from protocols.chat_stream import ChatStreamGate
from protocols.failures import FailureClass, UpstreamFault


def event(delta: dict | None = None, finish: str | None = None, **extra: object) -> bytes:
    chunk = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


ROLE = event({"role": "assistant", "content": ""})
HELLO = event({"content": "Hello"})
WORLD = event({"content": " world"})
STOP = event({}, "stop")
USAGE = (
    b'data: {"id":"c1","object":"chat.completion.chunk","choices":[],'
    b'"usage":{"total_tokens":3}}\n\n'
)
DONE = b"data: [DONE]\n\n"


def run(stream: bytes, pieces: list[bytes]) -> tuple[bytes, list[bool]]:
    gate = ChatStreamGate()
    out = bytearray()
    commits = []
    for piece in pieces:
        out += gate.feed(piece)
        commits.append(gate.committed)
    out += gate.end()
    return bytes(out), commits


def splits(stream: bytes) -> list[list[bytes]]:
    return [
        [stream],
        [stream[i : i + 1] for i in range(len(stream))],
        *[[stream[:cut], stream[cut:]] for cut in range(1, len(stream), 7)],
    ]


WHOLE = ROLE + HELLO + WORLD + STOP + USAGE + DONE


@pytest.mark.parametrize("pieces", splits(WHOLE), ids=lambda p: f"{len(p)}-pieces")
def test_a_whole_stream_passes_through_without_its_done(pieces: list[bytes]) -> None:
    out, _ = run(WHOLE, pieces)
    assert out == ROLE + HELLO + WORLD + STOP + USAGE


def test_nothing_passes_before_the_first_content_then_the_held_role_chunk_goes_first() -> None:
    gate = ChatStreamGate()
    assert gate.feed(ROLE) == b"" and not gate.committed and gate.started
    assert gate.feed(HELLO) == ROLE + HELLO and gate.committed
    assert gate.feed(WORLD) == WORLD


@pytest.mark.parametrize(
    "content",
    [
        {"reasoning_content": "hmm"},
        {"reasoning": "hmm"},
        {"refusal": "no"},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "f", "arguments": ""},
                }
            ]
        },
    ],
)
def test_reasoning_refusals_and_tool_calls_are_content(content: dict) -> None:
    gate = ChatStreamGate()
    assert gate.feed(ROLE + event(content)) == ROLE + event(content)


def test_trailing_bytes_after_done_are_ignored() -> None:
    gate = ChatStreamGate()
    assert gate.feed(HELLO + DONE + b"data: {not even json}\n\n" + HELLO) == HELLO
    assert gate.feed(b"more trailing garbage") == b""
    assert gate.end() == b""


def test_a_finish_reason_without_done_is_whole() -> None:
    assert run(HELLO + STOP, [HELLO + STOP])[0] == HELLO + STOP


def test_an_empty_reply_is_released_at_the_end() -> None:
    gate = ChatStreamGate()
    assert gate.feed(ROLE + DONE) == b""
    assert gate.end() == ROLE and gate.committed


@pytest.mark.parametrize(
    ("stream", "kind", "committed"),
    [
        (ROLE + HELLO, FailureClass.CONNECT, True),  # cut after content
        (ROLE, FailureClass.CONNECT, False),  # cut before content
        (ROLE + HELLO + b'data: {"cho', FailureClass.CONNECT, True),  # cut mid-event
        (b"<html>502 Bad Gateway</html>", FailureClass.MALFORMED, False),
        (b"", FailureClass.MALFORMED, False),
    ],
    ids=["after-content", "before-content", "mid-event", "html", "empty"],
)
def test_a_stream_that_stops_short_is_a_fault(
    stream: bytes, kind: FailureClass, committed: bool
) -> None:
    gate = ChatStreamGate()
    gate.feed(stream)
    assert gate.committed is committed
    with pytest.raises(UpstreamFault) as caught:
        gate.end()
    assert caught.value.failure.failure is kind


def test_malformed_events_and_error_events_fault_at_once_before_content() -> None:
    for bad, kind in [
        (b"data: {not json}\n\n", FailureClass.MALFORMED),
        (
            b'data: {"error": {"message": "slow down", "code": "rate_limit_exceeded"}}\n\n',
            FailureClass.RATE_LIMIT,
        ),
    ]:
        gate = ChatStreamGate()
        with pytest.raises(UpstreamFault) as caught:
            gate.feed(ROLE + bad)
        assert caught.value.failure.failure is kind and not gate.committed


def test_content_released_with_a_fault_in_the_same_bytes_is_not_swallowed() -> None:
    error = b'data: {"error": {"message": "overloaded"}}\n\n'
    gate = ChatStreamGate()
    assert gate.feed(ROLE + HELLO + error + WORLD) == ROLE + HELLO
    assert gate.fault is not None and gate.fault.message == "overloaded"
    with pytest.raises(UpstreamFault):
        gate.end()
