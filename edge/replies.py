"""The replies every route builds (JSON bodies, OpenAI error envelopes, SSE streams) and how
they become Quart responses.

Routes build `Reply` (a whole body) or `StreamReply` (a body produced piece by piece by an
async iterator with `aclose`, and maybe `farewell`) and `respond` turns either into a Quart
`Response`. A streamed body is relayed by `_relay`, which keeps two promises whatever happens:
- the body's `aclose()` always runs (the client left, the stream ended, the gateway stopped),
  shielded and bounded, so the upstream request is closed and its key given back;
- when the gateway's grace period runs out mid-stream (see `edge.stopping`), the stream ends
  with the body's own `farewell()` (its protocol's error event), never a silent cut. A body
  without one is cut short.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import attrs
import trio
from quart import Response

from edge.stopping import Stopping
from protocols import jsoncodec
from protocols.errors import BatonError

JSON = "application/json"
SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}
ACLOSE_LIMIT = 1.0  # closing a stream's producer (upstream socket, key) never takes longer


class Chunks(Protocol):
    def __aiter__(self) -> AsyncIterator[bytes]: ...
    async def aclose(self) -> None: ...


@attrs.frozen
class Reply:
    """A whole reply."""

    status: int
    headers: Mapping[str, str]
    body: bytes = attrs.field(repr=False)


@attrs.frozen
class StreamReply:
    """A reply whose body is sent piece by piece as `chunks` yields it."""

    status: int
    headers: Mapping[str, str]
    chunks: Chunks = attrs.field(repr=False)


Answer = Reply | StreamReply


def json_response(
    payload: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> Reply:
    return Reply(status, {"content-type": JSON, **(headers or {})}, jsoncodec.dumps(payload))


def error_response(error: BatonError, headers: Mapping[str, str] | None = None) -> Reply:
    """The envelope with the error's status and headers (Retry-After) plus `headers`."""
    return Reply(
        error.status, {"content-type": JSON, **error.headers(), **(headers or {})}, error.body()
    )


def respond(answer: Answer, stopping: Stopping) -> Response:
    """The Quart response for `answer`."""
    if isinstance(answer, Reply):
        return Response(answer.body, answer.status, dict(answer.headers))
    response = Response(_relay(answer.chunks, stopping), answer.status, dict(answer.headers))
    response.timeout = None  # a stream lasts as long as the call's own deadline lets it
    return response


async def _relay(chunks: Chunks, stopping: Stopping) -> AsyncIterator[bytes]:
    pieces = chunks.__aiter__()
    try:
        while True:
            piece = b""
            with stopping.watch() as interrupted:
                try:
                    piece = await pieces.__anext__()
                except StopAsyncIteration:
                    return
            if interrupted.cancelled_caught:  # the grace period ran out mid-stream
                farewell = getattr(chunks, "farewell", None)
                if farewell is not None:
                    data = farewell()
                    if data:
                        yield data
                    return
                raise trio.BrokenResourceError("the gateway stopped mid-stream")
            if piece:
                yield piece
    finally:
        with trio.CancelScope(shield=True) as closing:
            closing.deadline = trio.current_time() + ACLOSE_LIMIT
            await chunks.aclose()
