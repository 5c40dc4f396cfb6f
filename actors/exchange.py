"""One attempt: a Chat Completions request to one upstream with one key, start to finish.

Every way the exchange can go wrong is mapped here, once, to an `UpstreamFailure` (DESIGN:
"each upstream failure mapped once at the boundary"). Timeouts, per attempt:
- `connect`: opening the TCP (and TLS) connection;
- `first_byte`: from sending the request to the response headers and, for a stream, its first
  event;
- `idle`: the longest silence between two reads after that.
The call's own deadline is the requester's business: it cancels `attempt.scope`.

A stream is held back until its first event with content (text, reasoning, tool call or a
finish reason): until then the attempt can still fail and the supervisor may try another
candidate without the client seeing anything. From that event on, bytes flow to the requester
as they arrive, batched per network read, and a failure becomes `StreamBroke`.
"""

from __future__ import annotations

import time
from contextlib import aclosing

import attrs
import httpx
import trio

from actors.messages import (
    Attempt,
    AttemptFailed,
    AttemptStreaming,
    AttemptSucceeded,
    StreamBroke,
    StreamData,
    StreamEnded,
)
from config.model import Timeouts
from protocols import sse
from protocols.chat import check_completion, inspect_chunk
from protocols.failures import FailureClass, UpstreamFailure, classify_response
from protocols.redact import scrub


_DRAIN_LIMIT = 1.0  # seconds to wait for the end of a body after its [DONE]


@attrs.define
class _Progress:
    committed: bool = False  # content reached the requester: later failures are in-band


class _Fail(Exception):
    def __init__(self, failure: UpstreamFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def _failure(kind: FailureClass, message: str) -> _Fail:
    return _Fail(UpstreamFailure(kind, message))


async def run_attempt(
    client: httpx.AsyncClient, attempt: Attempt, timeouts: Timeouts, headers: dict[str, str]
) -> None:
    """Perform `attempt`, reporting on `attempt.reply`. Returns quietly if the requester left."""
    progress = _Progress()
    try:
        if attempt.request.stream:
            await _stream(client, attempt, timeouts, headers, progress)
        else:
            await _complete(client, attempt, timeouts, headers)
    except _Fail as fail:
        failure = _scrubbed(fail.failure, attempt)
        event = StreamBroke(failure) if progress.committed else AttemptFailed(failure)
        try:
            await attempt.reply.send(event)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the requester stopped listening: nothing more to do


async def _complete(
    client: httpx.AsyncClient, attempt: Attempt, timeouts: Timeouts, headers: dict[str, str]
) -> None:
    response = await _send(client, attempt, timeouts, headers)
    try:
        with trio.move_on_after(timeouts.idle) as idle:
            body = await _read_body(response)
        if idle.cancelled_caught:
            raise _failure(FailureClass.TIMEOUT, f"upstream stalled for {timeouts.idle:g}s")
    finally:
        await response.aclose()
    if response.status_code >= 300:
        raise _Fail(
            classify_response(response.status_code, body, response.headers, now=time.time())
        )
    problem = check_completion(body)
    if problem is not None:
        raise _Fail(problem)
    await attempt.reply.send(AttemptSucceeded(body))


async def _stream(
    client: httpx.AsyncClient,
    attempt: Attempt,
    timeouts: Timeouts,
    headers: dict[str, str],
    progress: _Progress,
) -> None:
    response = await _send(client, attempt, timeouts, headers)
    try:
        if response.status_code >= 300:
            body = await _read_body(response)
            raise _Fail(
                classify_response(response.status_code, body, response.headers, now=time.time())
            )
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            body = await _read_body(response)
            problem = check_completion(body)
            raise _Fail(
                problem
                or UpstreamFailure(
                    FailureClass.MALFORMED,
                    "upstream answered a stream request without a stream",
                    status=response.status_code,
                )
            )
        decoder = sse.SSEDecoder()
        held = bytearray()
        finished = done = False
        wait_until = trio.current_time() + timeouts.first_byte
        async with aclosing(response.aiter_raw()) as chunks:
            while True:
                with trio.move_on_at(wait_until) as silence:
                    try:
                        raw = await chunks.__anext__()
                    except StopAsyncIteration:
                        break
                if silence.cancelled_caught and done:
                    break  # [DONE] came but the body did not end: let it go
                if silence.cancelled_caught:
                    started = bool(held) or progress.committed
                    phase = "after it started" if started else "before its first event"
                    limit = timeouts.idle if started else timeouts.first_byte
                    raise _failure(
                        FailureClass.TIMEOUT,
                        f"upstream stream stalled {phase} (no data for {limit:g}s)",
                    )
                if done:
                    continue  # reading on to the end of the body keeps the connection reusable
                batch = bytearray()
                for event in decoder.feed(raw):
                    if event.data == "[DONE]":
                        done = True
                        break
                    try:
                        info = inspect_chunk(event.data)
                    except ValueError as exc:
                        raise _failure(
                            FailureClass.MALFORMED, f"upstream sent a malformed stream event: {exc}"
                        ) from None
                    if info.error is not None:
                        raise _Fail(info.error)
                    finished = finished or info.finish_reason is not None
                    frame = sse.encode_data(event.data)
                    if progress.committed:
                        batch += frame
                    else:
                        held += frame
                        if info.content:
                            progress.committed = True
                            await attempt.reply.send(AttemptStreaming(bytes(held)))
                if batch:
                    await attempt.reply.send(StreamData(bytes(batch)))
                wait_until = trio.current_time() + (_DRAIN_LIMIT if done else timeouts.idle)
        if not done and not finished:
            if not held and not progress.committed:
                raise _failure(FailureClass.MALFORMED, "upstream sent no event-stream events")
            raise _failure(FailureClass.CONNECT, "upstream closed the stream before it finished")
        if not progress.committed:
            progress.committed = True
            await attempt.reply.send(AttemptStreaming(bytes(held)))
        await attempt.reply.send(StreamEnded())
    except httpx.HTTPError as exc:
        raise _transport_failure(exc, after_headers=True) from None
    finally:
        await response.aclose()


async def _send(
    client: httpx.AsyncClient, attempt: Attempt, timeouts: Timeouts, headers: dict[str, str]
) -> httpx.Response:
    request = client.build_request(
        "POST",
        "chat/completions",
        content=attempt.request.body_for(attempt.target.model),
        headers=_auth_headers(attempt, headers),
    )
    with trio.move_on_after(timeouts.first_byte) as waiting:
        try:
            return await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _transport_failure(exc, after_headers=False) from None
    assert waiting.cancelled_caught
    raise _failure(FailureClass.TIMEOUT, f"upstream sent no reply within {timeouts.first_byte:g}s")


async def _read_body(response: httpx.Response) -> bytes:
    try:
        return await response.aread()
    except httpx.HTTPError as exc:
        raise _transport_failure(exc, after_headers=True) from None


def _auth_headers(attempt: Attempt, headers: dict[str, str]) -> dict[str, str]:
    if attempt.credential.secret is None:
        return headers
    return {**headers, "authorization": f"Bearer {attempt.credential.secret}"}


def _transport_failure(exc: httpx.HTTPError, *, after_headers: bool) -> _Fail:
    if isinstance(exc, httpx.TimeoutException):
        kind = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "reading"
        return _failure(FailureClass.TIMEOUT, f"upstream timed out while {kind}")
    if isinstance(exc, httpx.ConnectError):
        return _failure(FailureClass.CONNECT, "could not connect to the upstream")
    if isinstance(exc, httpx.RemoteProtocolError) and not after_headers:
        return _failure(FailureClass.MALFORMED, "upstream did not answer in HTTP")
    if after_headers:
        return _failure(FailureClass.CONNECT, "upstream connection was cut mid-reply")
    return _failure(FailureClass.CONNECT, f"upstream transport error ({type(exc).__name__})")


def _scrubbed(failure: UpstreamFailure, attempt: Attempt) -> UpstreamFailure:
    if failure.failure is FailureClass.AUTH:
        message = (
            f"upstream {attempt.target.provider} rejected key "
            f"{attempt.credential.alias} (HTTP {failure.status})"
        )
    else:
        message = scrub(failure.message, [attempt.credential.secret])
    if message == failure.message:
        return failure
    return attrs.evolve(failure, message=message)
