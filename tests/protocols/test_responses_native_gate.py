"""Vectors for native Responses upstreams: the stream gate and adopting events into a stream."""

import json

import pytest

from protocols import sse
from protocols.failures import FailureClass, UpstreamFault
from protocols.responses import IdFactory, ResponseStream
from protocols.responses.native import NativeStreamGate, check_native_response


def frame(kind: str, **fields: object) -> bytes:
    return sse.encode_event(kind, json.dumps({"type": kind, **fields}))


CREATED = frame("response.created", response={"id": "resp_up", "status": "in_progress"})
PROGRESS = frame("response.in_progress", response={"id": "resp_up"})
ADDED = frame("response.output_item.added", output_index=0, item={"id": "msg_1"})
DELTA = frame("response.output_text.delta", item_id="msg_1", delta="hi")
DONE_ITEM = frame("response.output_item.done", output_index=0, item={"id": "msg_1"})
COMPLETED = frame(
    "response.completed", response={"id": "resp_up", "status": "completed", "output": []}
)
WHOLE = CREATED + PROGRESS + ADDED + DELTA + DONE_ITEM + COMPLETED


@pytest.mark.parametrize("size", [len(WHOLE), 1, 7, 64])
def test_a_whole_stream_passes_split_anywhere(size: int) -> None:
    gate = NativeStreamGate()
    out = b"".join(gate.feed(WHOLE[i : i + size]) for i in range(0, len(WHOLE), size))
    assert out + gate.end() == WHOLE
    assert gate.done and gate.committed


def test_opening_events_are_held_until_output() -> None:
    gate = NativeStreamGate()
    assert gate.feed(CREATED + PROGRESS) == b"" and not gate.committed
    assert gate.feed(ADDED) == CREATED + PROGRESS + ADDED


@pytest.mark.parametrize(
    ("stream", "kind"),
    [
        (
            CREATED
            + frame(
                "response.failed",
                response={"error": {"code": "rate_limit_exceeded", "message": "slow"}},
            ),
            FailureClass.RATE_LIMIT,
        ),
        (CREATED + frame("error", code="server_error", message="boom"), FailureClass.SERVER),
        (b"data: not json\n\n", FailureClass.MALFORMED),
    ],
)
def test_failures_before_output_can_fail_over(stream: bytes, kind: FailureClass) -> None:
    with pytest.raises(UpstreamFault) as caught:
        NativeStreamGate().feed(stream)
    assert caught.value.failure.failure is kind


def test_a_stream_cut_before_its_terminal_event_is_a_fault() -> None:
    gate = NativeStreamGate()
    gate.feed(CREATED + ADDED + DELTA)
    with pytest.raises(UpstreamFault) as caught:
        gate.end()
    assert caught.value.failure.failure is FailureClass.CONNECT
    with pytest.raises(UpstreamFault):
        NativeStreamGate().end()


def test_a_failed_event_after_output_passes_through_as_the_end() -> None:
    failed = frame("response.failed", response={"error": {"code": "server_error", "message": "x"}})
    gate = NativeStreamGate()
    assert gate.feed(ADDED + failed + DELTA) == ADDED + failed
    assert gate.done and gate.end() == b""


def test_native_bodies() -> None:
    assert check_native_response(b'{"id": "r", "output": []}') is None
    failed = check_native_response(
        b'{"status": "failed", "output": [], "error": '
        b'{"code": "rate_limit_exceeded", "message": "m"}}'
    )
    assert failed is not None and failed.failure is FailureClass.RATE_LIMIT
    for bad in (b"[]", b"<html>", b'{"id": "r"}'):
        problem = check_native_response(bad)
        assert problem is not None and problem.failure is FailureClass.MALFORMED


def test_adopting_native_events_keeps_one_id_and_one_numbering() -> None:
    stream = ResponseStream({"model": "vm", "input": "x"}, IdFactory.deterministic(), 5)
    ours = stream.start() + stream.keepalive()
    adopted = []
    for event in sse.SSEDecoder().feed(WHOLE):
        adopted += stream.adopt(json.loads(event.data))
    events = ours + adopted
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in adopted] == [
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_item.done",
        "response.completed",
    ]
    assert adopted[-1]["response"]["id"] == ours[0]["response"]["id"] == stream.response_id
    assert adopted[-1]["response"]["model"] == "vm"
    assert stream.response["status"] == "completed" and stream.has_output
    assert stream.finish() == []  # the upstream's terminal event already ended it
