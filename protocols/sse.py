"""Server-sent events: an incremental decoder and the encoder.

The decoder follows the WHATWG event-stream rules: lines end in CRLF, LF or CR; `data` lines of
one event join with "\\n"; a blank line dispatches the event; lines starting with ":" are
comments; an unknown field is ignored; a single leading space after the colon is dropped. Input
may arrive split anywhere, even inside a CRLF pair, so the decoder keeps the unfinished tail.
An event still open when the stream ends is not dispatched (the spec says so, and for us an
unterminated event is a sign of a cut stream: `pending` tells the caller one was in flight).

The decoder is bounded and linear, whatever it is fed: the unfinished tail holds no line end
(the lines before it were taken), so a feed scans only the bytes it brought; and with
`max_event_bytes` a line, or the data of one event, that grows past it raises `EventTooLarge`
(an upstream that never ends a line must not grow one buffer without limit).
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Event:
    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class EventTooLarge(ValueError):
    """A line or an event grew past the decoder's `max_event_bytes`."""


@attrs.define
class SSEDecoder:
    max_event_bytes: int | None = None
    _buffer: bytearray = attrs.field(factory=bytearray)
    _data: list[str] = attrs.field(factory=list)
    _event: str = ""
    _id: str | None = None
    _retry: int | None = None
    _has_fields: bool = False
    _skip_lf: bool = False
    _size: int = 0  # bytes of data lines in the event being read

    def feed(self, chunk: bytes) -> list[Event]:
        """Take the next bytes of the stream; return the events they complete."""
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._skip_lf = False
        buffer = self._buffer
        scanned = len(buffer)  # the tail kept from before holds no line end
        buffer += chunk
        events: list[Event] = []
        start = 0
        size = len(buffer)
        while start < size:
            lf = buffer.find(b"\n", max(start, scanned))
            cr = buffer.find(b"\r", max(start, scanned), lf if lf >= 0 else size)
            if cr >= 0:
                end, next_start = cr, cr + 1
                if next_start < size and buffer[next_start] == 0x0A:
                    next_start += 1
                elif next_start == size:
                    self._skip_lf = True  # a CR at the end: a LF may follow in the next chunk
            elif lf >= 0:
                end, next_start = lf, lf + 1
            else:
                break
            event = self._line(bytes(buffer[start:end]))
            if event is not None:
                events.append(event)
            start = next_start
        del buffer[:start]
        if self.max_event_bytes is not None and len(buffer) > self.max_event_bytes:
            raise EventTooLarge(f"an event-stream line over {self.max_event_bytes} bytes")
        return events

    @property
    def pending(self) -> bool:
        """True when bytes or fields of an undispatched event are waiting."""
        return bool(self._buffer) or self._has_fields

    def _line(self, raw: bytes) -> Event | None:
        if not raw:
            return self._dispatch()
        line = raw.decode("utf-8", errors="replace")
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._size += len(raw)
            if self.max_event_bytes is not None and self._size > self.max_event_bytes:
                raise EventTooLarge(f"an event-stream event over {self.max_event_bytes} bytes")
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry":
            if value.isdigit():
                self._retry = int(value)
        else:
            return None
        self._has_fields = True
        return None

    def _dispatch(self) -> Event | None:
        data, self._data = self._data, []
        self._size = 0
        event_type, self._event = self._event, ""
        retry, self._retry = self._retry, None
        self._has_fields = False
        if not data:
            return None
        return Event(data="\n".join(data), event=event_type or "message", id=self._id, retry=retry)


def encode_data(data: bytes | str) -> bytes:
    """One `data:` event. Multi-line payloads become several `data:` lines."""
    if isinstance(data, str):
        data = data.encode()
    if b"\n" in data or b"\r" in data:
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        return b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"
    return b"data: " + data + b"\n\n"


def encode_event(event: str, data: bytes | str) -> bytes:
    """A named event, as the Responses API streams them (`event: response.created`)."""
    return b"event: " + event.encode() + b"\n" + encode_data(data)


DONE = b"data: [DONE]\n\n"
