"""What every stream gate shares: SSE in, held until the commit point, faults kept in order.

A gate reads an upstream stream as it arrives (split anywhere) and decides, event by event
(`_take`), what passes to the client and when the stream commits. The subclasses say what an
event means for their dialect (`protocols.chat_stream` for Chat chunks,
`protocols.responses.native` for Responses events). A failure found in the same bytes as
content that was let through does not swallow that content: `feed` returns it and keeps the
failure in `fault`, which the caller raises once the content is on its way.
"""

from __future__ import annotations

import attrs

from protocols import sse
from protocols.failures import FailureClass, UpstreamFailure, UpstreamFault


@attrs.define
class StreamGate:
    committed: bool = False
    done: bool = False  # the stream said it is over; later bytes are ignored
    fault: UpstreamFailure | None = None
    _decoder: sse.SSEDecoder = attrs.field(factory=sse.SSEDecoder)
    _held: bytearray = attrs.field(factory=bytearray)
    _events: int = 0

    @property
    def started(self) -> bool:
        """At least one event arrived (the upstream is alive, if not yet saying anything)."""
        return self._events > 0

    def feed(self, raw: bytes) -> bytes:
        """The next upstream bytes; returns the bytes to send on now (b"" while held)."""
        if self.done:
            return b""
        passed = bytearray()
        try:
            try:
                events = self._decoder.feed(raw)
            except sse.EventTooLarge as exc:
                message = f"upstream sent {exc} (max_event_bytes)"
                failure = UpstreamFailure(FailureClass.MALFORMED, message)
                raise UpstreamFault(failure) from exc
            for event in events:
                if event.data == "[DONE]":
                    self._done_marker()
                else:
                    self._events += 1
                    passed += self._take(event.data)
                if self.done:
                    break
        except UpstreamFault as fault:
            if not passed:
                raise
            self.fault, self.done = fault.failure, True
        return bytes(passed)

    def _done_marker(self) -> None:
        """`data: [DONE]` arrived."""

    def _take(self, data: str) -> bytes:
        """One event's data: the bytes it lets through now. Raises `UpstreamFault`."""
        raise NotImplementedError

    def _hold(self, frame: bytes, *, commits: bool) -> bytes:
        """Pass `frame` if committed; else hold it, and release everything if it commits."""
        if self.committed:
            return frame
        self._held += frame
        if not commits:
            return b""
        self.committed = True
        return self._release()

    def _release(self) -> bytes:
        held, self._held = bytes(self._held), bytearray()
        return held
