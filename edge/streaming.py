"""The body of a streamed Chat reply: relays the walk's events as SSE bytes.

An async iterator with an `aclose` (which the HTTP server calls however the reply ends), so a
client that leaves mid-stream closes the upstream request at once.
"""

from __future__ import annotations

from actors.messages import StreamData, StreamEnded, Streaming
from protocols import jsoncodec, sse
from protocols.errors import error_envelope
from protocols.failures import FailureClass, UpstreamFailure
from protocols.usage import Usage

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
    """The SSE body of a committed Chat stream: the first events, then what the relay reads,
    ended by `[DONE]` or an in-band error. `aclose` (run however the reply ends) closes the
    upstream stream and gives its key back."""

    def __init__(self, streaming: Streaming) -> None:
        self._relay = streaming.relay
        self._first: bytes | None = streaming.first
        self._provider = streaming.provenance.provider or ""
        self._done = False
        self.outcome: str | None = None  # "ok" after [DONE], "cut" after an in-band error
        self.error_code: str | None = None

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        if self._done:
            raise StopAsyncIteration
        event = await self._relay.next_event()
        if isinstance(event, StreamData):
            return event.data
        self._done = True
        if isinstance(event, StreamEnded):
            self.outcome = "ok"
            return sse.DONE
        self.outcome, self.error_code = "cut", event.failure.code or event.failure.failure.value
        return stream_error_event(event.failure, self._provider)

    def farewell(self) -> bytes:
        """The event that ends the stream when the gateway stops before the upstream did
        (nothing, if the stream had already ended)."""
        if self._done:
            return b""
        self._done = True
        envelope = error_envelope(
            "the gateway is shutting down: the stream was cut short",
            "server_error",
            "shutting_down",
        )
        return sse.encode_data(jsoncodec.dumps(envelope))

    @property
    def usage(self) -> Usage | None:
        return self._relay.usage

    async def aclose(self) -> None:
        self._done = True
        await self._relay.aclose()
