import pytest

from protocols.sse import DONE, Event, SSEDecoder, encode_data, encode_event

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
