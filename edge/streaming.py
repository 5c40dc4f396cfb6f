"""The body of a streamed Chat reply: relays the walk's events as SSE bytes.

An async iterator with an `aclose` (which Quart calls however the response ends), so a client
that leaves mid-stream cancels the call at once, and the upstream request with it.
"""

from __future__ import annotations

import trio

from actors.messages import Call, StreamBroke, StreamData, StreamEnded
from protocols import jsoncodec, sse
from protocols.errors import error_envelope
from protocols.failures import FailureClass, UpstreamFailure

_ERROR_TYPES = {
    FailureClass.RATE_LIMIT: "rate_limit_error",
    FailureClass.TIMEOUT: "timeout_error",
    FailureClass.CONTEXT_LENGTH: "invalid_request_error",
    FailureClass.CALLER: "invalid_request_error",
}


def stream_error_event(failure: UpstreamFailure, provider: str | None) -> bytes:
    """The in-band error that ends a committed stream (what OpenAI itself sends mid-stream)."""
    who = f"upstream {provider}" if provider else "the upstream"
    envelope = error_envelope(
        f"{who} failed mid-stream: {failure.message}",
        _ERROR_TYPES.get(failure.failure, "server_error"),
        failure.code or failure.failure.value,
    )
    return sse.encode_data(jsoncodec.dumps(envelope))


class ChatStream:
    def __init__(
        self, call: Call, events: trio.MemoryReceiveChannel[object], provider: str
    ) -> None:
        self._call = call
        self._events = events
        self._provider = provider
        self._done = False

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        try:
            event = await self._events.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            event = StreamBroke(UpstreamFailure(FailureClass.SERVER, "the stream was lost"))
        if isinstance(event, StreamData):
            return event.data
        self._done = True
        if isinstance(event, StreamEnded):
            return sse.DONE
        assert isinstance(event, StreamBroke), event
        return stream_error_event(event.failure, self._provider)

    async def aclose(self) -> None:
        self._done = True
        self._call.scope.cancel()
        self._events.close()
