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
from collections.abc import AsyncIterator, Callable
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
from protocols import jsoncodec
from protocols.chat import check_completion
from protocols.chat_stream import ChatStreamGate
from protocols.failures import FailureClass, UpstreamFailure, UpstreamFault, classify_response
from protocols.redact import scrub
from protocols.responses.native import NativeStreamGate, check_native_response

_DRAIN_LIMIT = 1.0  # seconds to wait for the end of a body after its [DONE]


Gate = ChatStreamGate | NativeStreamGate


@attrs.frozen
class _Dialect:
    """What one attempt sends and how its reply is read: Chat Completions, or the Responses
    request itself for an upstream that speaks it (`kind: openai-responses`)."""

    path: str
    body: bytes = attrs.field(repr=False)
    check: Callable[[bytes], UpstreamFailure | None]
    gate: Gate

    @classmethod
    def of(cls, attempt: Attempt) -> _Dialect:
        model = attempt.target.model
        if attempt.native is not None:
            body = jsoncodec.dumps({**attempt.native, "model": model})
            return cls("responses", body, check_native_response, NativeStreamGate())
        return cls(
            "chat/completions", attempt.request.body_for(model), check_completion, ChatStreamGate()
        )


def _status_fault(response: httpx.Response, body: bytes) -> UpstreamFault:
    """An error status, classified once (Retry-After and rate-limit headers included)."""
    return UpstreamFault(
        classify_response(response.status_code, body, response.headers, now=time.time())
    )


def _fault(kind: FailureClass, message: str) -> UpstreamFault:
    return UpstreamFault(UpstreamFailure(kind, message))


async def run_attempt(
    client: httpx.AsyncClient, attempt: Attempt, timeouts: Timeouts, headers: dict[str, str]
) -> None:
    """Perform `attempt`, reporting on `attempt.reply`. Returns quietly if the requester left."""
    dialect = _Dialect.of(attempt)
    try:
        if attempt.request.stream:
            await _stream(client, attempt, timeouts, headers, dialect)
        else:
            await _complete(client, attempt, timeouts, headers, dialect)
    except UpstreamFault as fault:
        failure = _scrubbed(fault.failure, attempt)
        event = StreamBroke(failure) if dialect.gate.committed else AttemptFailed(failure)
        try:
            await attempt.reply.send(event)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the requester stopped listening: nothing more to do


async def _complete(
    client: httpx.AsyncClient,
    attempt: Attempt,
    timeouts: Timeouts,
    headers: dict[str, str],
    dialect: _Dialect,
) -> None:
    response = await _send(client, attempt, timeouts, headers, dialect)
    try:
        with trio.move_on_after(timeouts.idle) as idle:
            body = await _read_body(response)
        if idle.cancelled_caught:
            raise _fault(FailureClass.TIMEOUT, f"upstream stalled for {timeouts.idle:g}s")
    finally:
        await response.aclose()
    if response.status_code >= 300:
        raise _status_fault(response, body)
    problem = dialect.check(body)
    if problem is not None:
        raise UpstreamFault(problem)
    await attempt.reply.send(AttemptSucceeded(body))


async def _stream(
    client: httpx.AsyncClient,
    attempt: Attempt,
    timeouts: Timeouts,
    headers: dict[str, str],
    dialect: _Dialect,
) -> None:
    gate = dialect.gate
    response = await _send(client, attempt, timeouts, headers, dialect)
    try:
        if response.status_code >= 300:
            raise _status_fault(response, await _read_body(response))
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            body = await _read_body(response)
            problem = dialect.check(body)
            raise UpstreamFault(
                problem
                or UpstreamFailure(
                    FailureClass.MALFORMED,
                    "upstream answered a stream request without a stream",
                    status=response.status_code,
                )
            )
        async with aclosing(response.aiter_raw()) as chunks:
            await _relay(chunks, gate, attempt, timeouts)
        was_committed = gate.committed
        held = gate.end()  # a reply without content is still a reply: send what was held
        if not was_committed:
            await attempt.reply.send(AttemptStreaming(held))
        await attempt.reply.send(StreamEnded())
    except httpx.HTTPError as exc:
        raise _transport_fault(exc, after_headers=True) from None
    finally:
        await response.aclose()


async def _relay(
    chunks: AsyncIterator[bytes], gate: Gate, attempt: Attempt, timeouts: Timeouts
) -> None:
    """Pass the stream through `gate` to the requester, minding the first-byte and idle limits.
    After `[DONE]` it reads on, briefly, to the end of the body so the connection is reusable."""
    wait_until = trio.current_time() + timeouts.first_byte
    while True:
        with trio.move_on_at(wait_until) as silence:
            try:
                raw = await chunks.__anext__()
            except StopAsyncIteration:
                return
        if silence.cancelled_caught:
            if gate.done:
                return  # [DONE] came but the body did not end: let it go
            phase = "after it started" if gate.started else "before its first event"
            limit = timeouts.idle if gate.started else timeouts.first_byte
            raise _fault(
                FailureClass.TIMEOUT, f"upstream stream stalled {phase} (no data for {limit:g}s)"
            )
        was_committed = gate.committed
        passed = gate.feed(raw)
        if passed:
            await attempt.reply.send(
                StreamData(passed) if was_committed else AttemptStreaming(passed)
            )
        if gate.fault is not None:
            raise UpstreamFault(gate.fault)
        wait_until = trio.current_time() + (_DRAIN_LIMIT if gate.done else timeouts.idle)


async def _send(
    client: httpx.AsyncClient,
    attempt: Attempt,
    timeouts: Timeouts,
    headers: dict[str, str],
    dialect: _Dialect,
) -> httpx.Response:
    request = client.build_request(
        "POST", dialect.path, content=dialect.body, headers=_auth_headers(attempt, headers)
    )
    with trio.move_on_after(timeouts.first_byte) as waiting:
        try:
            return await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _transport_fault(exc, after_headers=False) from None
    assert waiting.cancelled_caught
    raise _fault(FailureClass.TIMEOUT, f"upstream sent no reply within {timeouts.first_byte:g}s")


async def _read_body(response: httpx.Response) -> bytes:
    try:
        return await response.aread()
    except httpx.HTTPError as exc:
        raise _transport_fault(exc, after_headers=True) from None


def _auth_headers(attempt: Attempt, headers: dict[str, str]) -> dict[str, str]:
    if attempt.credential.secret is None:
        return headers
    return {**headers, "authorization": f"Bearer {attempt.credential.secret}"}


def _transport_fault(exc: httpx.HTTPError, *, after_headers: bool) -> UpstreamFault:
    if isinstance(exc, httpx.TimeoutException):
        kind = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "reading"
        return _fault(FailureClass.TIMEOUT, f"upstream timed out while {kind}")
    if isinstance(exc, httpx.ConnectError):
        return _fault(FailureClass.CONNECT, "could not connect to the upstream")
    if isinstance(exc, httpx.RemoteProtocolError) and not after_headers:
        return _fault(FailureClass.MALFORMED, "upstream did not answer in HTTP")
    if after_headers:
        return _fault(FailureClass.CONNECT, "upstream connection was cut mid-reply")
    return _fault(FailureClass.CONNECT, f"upstream transport error ({type(exc).__name__})")


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
