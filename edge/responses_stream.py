"""The body of a streamed Responses reply: the walk's Chat chunks as Responses events.

The walk sends what it sends for Chat (`StreamStarted`, `StreamData` with SSE-framed Chat
chunks, then `StreamEnded` or `StreamBroke`, or `Failed` before anything started); this turns
each into `ResponseStream` events, encoded as `event: <type>` SSE. Until the walk commits, it
repeats `response.in_progress` every `keepalive` seconds: Codex's idle timer counts events,
not SSE comments. An upstream failure, before or after output started, ends the stream with
`response.failed` carrying the error code; never a silent end.

Like `ChatStream`, an async iterator whose `aclose` cancels the call, and `on_final` receives
the final Response (to store it) however the stream ended; `on_provenance`, if given, who
served the call (or how it failed) once the walk says (the request log's `attempts.json`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from actors.messages import (
    Call,
    Failed,
    Provenance,
    StreamBroke,
    StreamData,
    StreamEnded,
    StreamStarted,
)
from actors.telemetry.record import CUT, FAILED, OK
from edge.walk_events import WalkEvents
from protocols import jsoncodec, sse
from protocols.errors import BatonError
from protocols.failures import FailureClass, UpstreamFailure
from protocols.responses import ResponseStream, UpstreamReplyError
from protocols.usage import Usage

_CODES = {
    FailureClass.RATE_LIMIT: "rate_limit_exceeded",
    FailureClass.CONTEXT_LENGTH: "context_length_exceeded",
    FailureClass.TIMEOUT: "server_error",
}


def failure_code(failure: UpstreamFailure) -> str:
    if failure.failure in _CODES:
        return _CODES[failure.failure]
    return (
        failure.code if failure.code and failure.failure is FailureClass.CALLER else "server_error"
    )


def encode(events: list[dict[str, Any]]) -> bytes:
    return b"".join(sse.encode_event(event["type"], jsoncodec.dumps(event)) for event in events)


class ResponsesStream:
    def __init__(
        self,
        call: Call,
        events: trio.MemoryReceiveChannel[object],
        stream: ResponseStream,
        *,
        first: object | None,
        keepalive: float,
        on_final: Callable[[dict[str, Any]], None],
        on_provenance: Callable[[Provenance], None] | None = None,
        written: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._call = call
        self._events = WalkEvents(events, first)  # first: if the route already read it
        self._stream = stream
        self._keepalive = keepalive
        self._on_final = on_final
        self._on_provenance = on_provenance  # told who served (or failed) the call, once known
        self._written = written  # awaited before the last events go: the saved response is readable
        self._decoder = sse.SSEDecoder()
        self._opened = False
        self._done = False
        self._native = False  # the upstream streams Responses events itself
        self.provenance: Provenance | None = None  # who serves it, once the walk says

    # -- what telemetry reads (edge.meter.MeteredStream) --------------------------------------

    @property
    def has_output(self) -> bool:
        return self._stream.has_output

    @property
    def outcome(self) -> str:
        status = self._stream.response.get("status")
        if status != "failed":
            return OK
        return CUT if self._stream.has_output else FAILED

    @property
    def error_code(self) -> str | None:
        error = self._stream.response.get("error")
        return error.get("code") if isinstance(error, dict) else None

    @property
    def usage(self) -> Usage | None:
        return Usage.from_responses(self._stream.response.get("usage"))

    def __aiter__(self) -> ResponsesStream:
        return self

    async def __anext__(self) -> bytes:
        """The next events as SSE bytes (the HTTP body)."""
        return encode(await self.next_events())

    async def next_events(self) -> list[dict[str, Any]]:
        """The next events as dicts (what a WebSocket sends, one message each)."""
        while not self._done:
            if not self._opened:
                self._opened = True
                return self._stream.start()
            event = await self._next_event()
            if event is None:
                return self._stream.keepalive()
            out = self._translate(event)
            if self._done and self._written is not None:  # the final events: saved first
                written, self._written = self._written, None
                await written(str(self._stream.response.get("id")))
            if out:
                return out
        raise StopAsyncIteration

    async def _next_event(self) -> object | None:
        committed = self._stream.has_output
        return await self._events.next(None if committed else self._keepalive)

    def _translate(self, event: object) -> list[dict[str, Any]]:
        if self._on_provenance is not None and isinstance(event, (StreamStarted, Failed)):
            self._on_provenance(event.provenance)
        if isinstance(event, StreamStarted):
            self._native = event.native
            self.provenance = event.provenance
            return []
        if isinstance(event, StreamData):
            return self._feed(event.data)
        if isinstance(event, StreamEnded):
            return self._end(self._stream.finish())
        if isinstance(event, StreamBroke):
            return self._end(self._stream.fail(failure_code(event.failure), event.failure.message))
        assert isinstance(event, Failed), event
        self.provenance = event.provenance
        return self._end(self._stream.fail(_error_code(event.error), event.error.message))

    def _feed(self, data: bytes) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        try:
            for sse_event in self._decoder.feed(data):
                chunk = jsoncodec.loads(sse_event.data)
                out += self._stream.adopt(chunk) if self._native else self._stream.feed(chunk)
        except (UpstreamReplyError, ValueError) as exc:
            self._call.scope.cancel()
            return self._end(
                out
                + self._stream.fail(
                    "server_error", f"upstream sent a reply baton cannot read: {exc}"
                )
            )
        return out

    def _end(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self._done = True
        self._on_final(self._stream.response)
        return events

    def farewell(self) -> bytes:
        """`response.failed`, when the gateway stops before the upstream finished."""
        return encode(self.farewell_events())

    def farewell_events(self) -> list[dict[str, Any]]:
        """The events of `farewell` (none once the stream has ended)."""
        if self._done:
            return []
        return self._end(self._stream.fail("server_error", "the gateway is shutting down"))

    async def aclose(self) -> None:
        self._done = True
        self._call.scope.cancel()
        self._events.close()


def _error_code(error: BatonError) -> str:
    """The code a failed response carries: the caller's own fault keeps its code (an unknown
    model is `model_not_found`, which a client must not retry), as do rate limits and context
    length; anything else is the gateway's or an upstream's: `server_error`."""
    if error.code in ("rate_limit_exceeded", "context_length_exceeded"):
        return error.code
    if error.status < 500 and error.code:
        return error.code
    return "server_error"
