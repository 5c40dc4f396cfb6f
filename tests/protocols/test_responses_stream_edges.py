"""`ResponseStream` beyond the vectors: keep-alives, misuse, malformed upstream chunks."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.responses import IdFactory, ResponseStream, UpstreamReplyError
from tests.schema import validate


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }


def call(index: int, id: str | None = None, name: str | None = None, args: str = "") -> dict:
    function = {"arguments": args} | ({"name": name} if name else {})
    return {"tool_calls": [{"index": index, "function": function} | ({"id": id} if id else {})]}


def new_stream() -> ResponseStream:
    return ResponseStream({"model": "m", "input": "hi"}, IdFactory.deterministic(), 100)


def test_keepalive_repeats_in_progress_with_the_next_sequence_number() -> None:
    stream = new_stream()
    events = stream.start() + stream.keepalive() + stream.keepalive()
    assert [e["type"] for e in events] == ["response.created"] + ["response.in_progress"] * 3
    assert [e["sequence_number"] for e in events] == [0, 1, 2, 3]
    assert {e["response"]["id"] for e in events} == {"resp_00000000"}
    for event in events[1:]:
        validate(event, "ResponseInProgressEvent")
        assert event["response"]["status"] == "in_progress"
        assert "usage" not in event["response"]


def test_keepalive_before_start_starts_and_after_the_end_is_silent() -> None:
    stream = new_stream()
    assert [e["type"] for e in stream.keepalive()] == [
        "response.created",
        "response.in_progress",
        "response.in_progress",
    ]
    stream.finish()
    assert stream.keepalive() == []


def test_keepalive_mid_output_shows_the_partial_item() -> None:
    stream = new_stream()
    stream.feed(chunk({"content": "Hel"}))
    (event,) = stream.keepalive()
    validate(event, "ResponseInProgressEvent")
    (item,) = event["response"]["output"]
    assert item["status"] == "in_progress"
    assert item["content"][0]["text"] == "Hel"


def test_feed_starts_the_stream_once() -> None:
    stream = new_stream()
    first = stream.feed(chunk({"role": "assistant", "content": ""}))
    assert [e["type"] for e in first] == ["response.created", "response.in_progress"]
    assert stream.start() == []
    assert not stream.has_output
    stream.feed(chunk({"content": "x"}))
    assert stream.has_output


def test_the_end_is_final() -> None:
    stream = new_stream()
    stream.feed(chunk({"content": "x"}, "stop"))
    (*_, last) = stream.finish()
    assert last["type"] == "response.completed"
    assert stream.finish() == [] and stream.fail("server_error", "late") == []
    with pytest.raises(RuntimeError):
        stream.feed(chunk({"content": "more"}))
    assert stream.response == last["response"]


def test_fail_without_a_code_says_server_error() -> None:
    stream = new_stream()
    (*_, last) = stream.fail(None, "connection reset")
    assert last["response"]["error"] == {"code": "server_error", "message": "connection reset"}
    assert last["response"]["status"] == "failed"
    validate(last, "ResponseFailedEvent")


def test_an_in_band_error_is_raised_with_the_upstream_error() -> None:
    stream = new_stream()
    error = {"message": "Rate limit reached", "type": "rate_limit_error", "code": "rate_limit"}
    with pytest.raises(UpstreamReplyError) as caught:
        stream.feed({"error": error})
    assert caught.value.error == error
    with pytest.raises(UpstreamReplyError):
        stream.feed({**chunk({"content": ""}, "error"), "error": {"message": "provider died"}})
    with pytest.raises(UpstreamReplyError):
        stream.feed(chunk({}, "error"))


@pytest.mark.parametrize(
    "bad",
    [
        [],
        "data",
        {"choices": {"0": {}}},
        {"choices": ["x"]},
        {"choices": [{"delta": "text"}]},
        {"choices": [{"delta": {"tool_calls": ["x"]}}]},
        chunk({"content": [{"type": "text", "text": "hi"}]}),
        chunk({"reasoning_content": 7}),
        chunk(
            {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": {}}}]}
        ),
    ],
)
def test_malformed_chunks_are_upstream_errors(bad: Any) -> None:
    with pytest.raises(UpstreamReplyError):
        new_stream().feed(bad)


def test_chunks_without_choices_are_fine() -> None:
    stream = new_stream()
    stream.start()
    assert stream.feed({"object": "chat.completion.chunk", "choices": []}) == []
    assert stream.feed({"object": "chat.completion.chunk"}) == []


def test_a_fragment_for_a_closed_call_is_refused_unless_empty() -> None:
    stream = new_stream()
    stream.feed(chunk(call(0, "call_a", "f", "{}")))
    stream.feed(chunk(call(1, "call_b", "g", "{}")))
    assert stream.feed(chunk(call(0))) == []  # an empty trailer some servers send
    with pytest.raises(UpstreamReplyError):
        stream.feed(chunk(call(0, args="{")))


def test_a_name_that_comes_late_still_reaches_the_done_events() -> None:
    stream = new_stream()
    stream.feed(chunk(call(0, "call_a", None, "")))
    stream.feed(chunk(call(0, None, "lookup", '{"q":1}')))
    events = stream.finish()
    (done,) = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert done["name"] == "lookup"
    assert stream.response["output"][0]["name"] == "lookup"


def test_the_response_before_the_end_is_in_progress_without_usage() -> None:
    stream = new_stream()
    stream.feed({**chunk({"content": "x"}), "usage": {"prompt_tokens": 1, "completion_tokens": 1}})
    assert stream.response["status"] == "in_progress"
    assert "usage" not in stream.response
    (*_, last) = stream.finish()
    assert last["response"]["usage"]["total_tokens"] == 2


def test_deterministic_ids_count_up_from_the_seed() -> None:
    ids = IdFactory.deterministic(16)
    assert [ids.response(), ids.message(), ids.function_call(), ids.reasoning(), ids.call()] == [
        "resp_00000010",
        "msg_00000011",
        "fc_00000012",
        "rs_00000013",
        "call_00000014",
    ]


def test_events_made_before_a_raise_come_first_from_fail() -> None:
    stream = new_stream()
    events = stream.feed(chunk(call(0, "call_a", "f", "{}")))
    events += stream.feed(chunk(call(1, "call_b", "g", "{}")))
    with pytest.raises(UpstreamReplyError):
        stream.feed(chunk({"content": "hi"} | call(0, args="{")))
    events += stream.fail("server_error", "upstream interleaved its tool calls")
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events][-7:] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.failed",
    ]
    assert [item["status"] for item in stream.response["output"]] == [
        "completed",
        "completed",
        "incomplete",
    ]


def test_a_first_chunk_that_is_refused_still_lets_fail_start_the_stream() -> None:
    stream = new_stream()
    with pytest.raises(UpstreamReplyError):
        stream.feed({"error": {"message": "quota", "code": "insufficient_quota"}})
    events = stream.fail("insufficient_quota", "quota")
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.failed",
    ]
    assert [e["sequence_number"] for e in events] == [0, 1, 2]
