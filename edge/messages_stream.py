"""The body of a streamed Messages reply: Anthropic's event sequence, whoever serves it.

The walk sends what it sends for every stream (`StreamStarted`, `StreamData`, then
`StreamEnded` or `StreamBroke`; or `Failed` before anything started). The data are Chat
chunks, translated here by `MessagesStream`, or, from a `kind: anthropic` upstream that got
the request itself (`StreamStarted.native`), Anthropic's own events, passed on as they came.

Until the walk commits, a `ping` goes out every `keepalive` seconds, as Anthropic sends while
a model is slow to start. Anthropic's clients read a stream as `message_start` first (the
SDK's accumulator refuses any other event before it), so the first keep-alive is preceded by
baton's own `message_start`; when a native upstream then commits, its `message_start` is
dropped (its usage kept for telemetry) and the rest of its events follow baton's.

However the stream ends badly, it ends with an `error` event, never a silent end: an upstream
that breaks after output started (`StreamBroke`), a walk that fails after the keep-alives
began (`Failed`), the gateway stopping (`farewell`). Like the other stream bodies, an async
iterator whose `aclose` cancels the call.
"""

from __future__ import annotations

from collections.abc import Callable

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
from edge.messages_errors import messages_error_message, messages_error_type
from edge.walk_events import WalkEvents
from protocols import jsoncodec, sse
from protocols.anthropic.messages_stream import MessagesStream
from protocols.anthropic.upstream_reply import usage_of_message
from protocols.failures import FailureClass, UpstreamFailure
from protocols.usage import Usage

_STREAM_ERROR_TYPES = {
    FailureClass.RATE_LIMIT: "rate_limit_error",
    FailureClass.TIMEOUT: "timeout_error",
    FailureClass.CONTEXT_LENGTH: "invalid_request_error",
    FailureClass.CALLER: "invalid_request_error",
    FailureClass.AUTH: "api_error",  # baton's key, not the client's: nothing it can fix
}


def stream_error_type(failure: UpstreamFailure) -> str:
    if failure.failure is FailureClass.SERVER and (
        failure.status in (503, 529) or failure.code == "overloaded_error"
    ):
        return "overloaded_error"
    return _STREAM_ERROR_TYPES.get(failure.failure, "api_error")


class MessagesBody:
    def __init__(
        self,
        call: Call,
        events: trio.MemoryReceiveChannel[object],
        stream: MessagesStream,
        *,
        first: object | None,
        keepalive: float,
        on_provenance: Callable[[Provenance], None] | None = None,
    ) -> None:
        self._call = call
        self._events = WalkEvents(events, first)  # first: if the route already read it
        self._stream = stream
        self._keepalive = keepalive
        self._on_provenance = on_provenance
        self._decoder = sse.SSEDecoder()
        self._native = False  # the upstream sends Anthropic's events itself
        self._own_start = False  # baton sent message_start (a keep-alive came first)
        self._committed = False
        self._done = False
        self._usage: Usage | None = None
        self._native_input: Usage = Usage()  # what a native message_start said
        self.outcome = OK  # what telemetry reads (edge.meter.MeteredStream)
        self.error_code: str | None = None
        self.provenance: Provenance | None = None

    @property
    def has_output(self) -> bool:
        return self._committed

    @property
    def usage(self) -> Usage | None:
        return self._usage

    def __aiter__(self) -> MessagesBody:
        return self

    async def __anext__(self) -> bytes:
        while not self._done:
            event = await self._next_event()
            if event is None:
                return self._ping()
            out = self._translate(event)
            if out:
                return out
        raise StopAsyncIteration

    async def _next_event(self) -> object | None:
        return await self._events.next(None if self._committed else self._keepalive)

    def _ping(self) -> bytes:
        if self._stream.started:
            return self._stream.ping()
        self._own_start = True
        return self._stream.start() + self._stream.ping()

    def _translate(self, event: object) -> bytes:
        if self._on_provenance is not None and isinstance(event, (StreamStarted, Failed)):
            self._on_provenance(event.provenance)
        if isinstance(event, StreamStarted):
            self._native, self._committed = event.native, True
            self.provenance = event.provenance
            return b""
        if isinstance(event, StreamData):
            return self._relay(event.data) if self._native else self._feed(event.data)
        if isinstance(event, StreamEnded):
            self._done = True
            if self._native:
                self._usage = self._usage or event.usage
                return b""
            self._usage = event.usage or self._usage
            try:
                return self._stream.finish(self._usage)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                message = f"upstream sent a stream baton cannot read: {exc}"
                return self._fail("api_error", message, "malformed")
        if isinstance(event, StreamBroke):
            self._usage = event.usage or self._usage
            who = self.provenance.provider if self.provenance is not None else None
            where = f"upstream {who}" if who else "the upstream"
            message = f"{where} failed mid-stream: {event.failure.message}"
            return self._fail(stream_error_type(event.failure), message, event.failure.code)
        assert isinstance(event, Failed), event
        self.provenance = event.provenance
        error = event.error
        return self._fail(messages_error_type(error), messages_error_message(error), error.code)

    def _feed(self, data: bytes) -> bytes:
        """Chat chunks, as Anthropic's events."""
        out = bytearray()
        for chunk in self._decoder.feed(data):
            try:
                out += self._stream.feed(chunk.data)
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
                self._call.scope.cancel()
                message = f"upstream sent a stream baton cannot read: {type(exc).__name__}"
                return bytes(out) + self._fail("api_error", message, "malformed")
        return bytes(out)

    def _relay(self, data: bytes) -> bytes:
        """A native upstream's events, as they came (but a second message_start)."""
        out = bytearray()
        for event in self._decoder.feed(data):
            if event.event in ("message_start", "message_delta"):
                self._note_usage(event.event, event.data)
                if event.event == "message_start" and self._own_start:
                    continue
            out += sse.encode_event(event.event, event.data)
        return bytes(out)

    def _note_usage(self, kind: str, data: str) -> None:
        try:
            payload = jsoncodec.loads(data)
        except (ValueError, RecursionError):
            return
        if not isinstance(payload, dict):
            return
        message = payload.get("message") if kind == "message_start" else payload
        usage = usage_of_message(message) if isinstance(message, dict) else None
        if usage is None:
            return
        if kind == "message_start":
            self._native_input = usage
            self._usage = usage
            return
        # message_delta carries the output so far (and, lately, the input again)
        base = self._native_input
        self._usage = Usage(
            input=usage.input if usage.input else base.input,
            output=usage.output,
            reasoning=usage.reasoning,
            cached=usage.cached if usage.cached else base.cached,
        )

    def _fail(self, error_type: str, message: str, code: str | None) -> bytes:
        self._done = True
        self.outcome = CUT if self._committed else FAILED
        self.error_code = code or error_type
        return self._stream.fail(error_type, message)  # the same event, whoever began

    def farewell(self) -> bytes:
        """An `error` event, when the gateway stops before the upstream finished."""
        if self._done:
            return b""
        return self._fail("overloaded_error", "the gateway is shutting down", "shutting_down")

    async def aclose(self) -> None:
        self._done = True
        self._call.scope.cancel()
        self._events.close()
