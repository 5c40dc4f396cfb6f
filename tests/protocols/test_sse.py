import time

import pytest

from protocols.sse import DONE, Event, EventTooLarge, SSEDecoder, encode_data, encode_event

STREAM = (
    b": keep-alive comment\n\n"
    b'data: {"a":1}\n\n'
    b"event: response.created\r\ndata: line one\r\ndata: line two\r\n\r\n"
    b"id: 7\rdata:no-space\r\r"
    b"retry: 3000\ndata: x\nunknown: y\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    Event(data='{"a":1}'),
    Event(data="line one\nline two", event="response.created"),
    Event(data="no-space", id="7"),
    Event(data="x", id="7", retry=3000),
    Event(data="[DONE]", id="7"),
]


def test_decodes_a_whole_stream() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(STREAM) == EXPECTED
    assert not decoder.pending


def test_decodes_byte_by_byte() -> None:
    decoder = SSEDecoder()
    events = [
        event for index in range(len(STREAM)) for event in decoder.feed(STREAM[index : index + 1])
    ]
    assert events == EXPECTED


@pytest.mark.parametrize("split", range(1, len(STREAM)))
def test_decodes_split_anywhere(split: int) -> None:
    decoder = SSEDecoder()
    assert decoder.feed(STREAM[:split]) + decoder.feed(STREAM[split:]) == EXPECTED


def test_an_unterminated_event_is_pending_not_dispatched() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a":1}\n\ndata: {"partial"') == [Event(data='{"a":1}')]
    assert decoder.pending
    decoder = SSEDecoder()
    assert decoder.feed(b"data: whole line\n") == []
    assert decoder.pending


def test_utf8_split_across_chunks() -> None:
    payload = "data: héllo 🌍\n\n".encode()
    decoder = SSEDecoder()
    events = decoder.feed(payload[:9]) + decoder.feed(payload[9:])
    assert events == [Event(data="héllo 🌍")]


def test_encoders() -> None:
    assert encode_data('{"a":1}') == b'data: {"a":1}\n\n'
    assert encode_data(b"one\ntwo") == b"data: one\ndata: two\n\n"
    assert encode_event("response.done", b"{}") == b"event: response.done\ndata: {}\n\n"
    assert DONE == b"data: [DONE]\n\n"
    assert SSEDecoder().feed(encode_data("one\r\ntwo")) == [Event(data="one\ntwo")]


def test_a_line_past_the_bound_is_refused_however_it_arrives() -> None:
    decoder = SSEDecoder(max_event_bytes=1024)
    decoder.feed(b"data: " + b"x" * 1000)
    with pytest.raises(EventTooLarge, match="line over 1024 bytes"):
        decoder.feed(b"x" * 100)


def test_an_event_of_many_lines_past_the_bound_is_refused() -> None:
    decoder = SSEDecoder(max_event_bytes=1024)
    with pytest.raises(EventTooLarge, match="event over 1024 bytes"):
        decoder.feed(b"data: " + b"x" * 600 + b"\n" + b"data: " + b"y" * 600 + b"\n")


def test_events_within_the_bound_pass_one_after_another() -> None:
    decoder = SSEDecoder(max_event_bytes=1024)
    event = b"data: " + b"x" * 1000 + b"\n\n"
    assert decoder.feed(event * 20) == [Event(data="x" * 1000)] * 20


def test_an_endless_line_is_scanned_once_not_on_every_feed() -> None:
    # 16 MiB of one line in 1 KiB pieces: rescanning the tail on each feed costs seconds
    decoder = SSEDecoder()
    piece = b"x" * 1024
    started = time.perf_counter()
    decoder.feed(b"data: ")
    for _ in range(16 * 1024):
        decoder.feed(piece)
    assert time.perf_counter() - started < 1.0
    assert decoder.feed(b"\r") == [] and decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [Event(data="x" * 16 * 1024 * 1024)]
