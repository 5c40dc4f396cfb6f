"""One attempt: a request to one upstream with one key, run in the caller's own task.

Every way the exchange can go wrong is mapped here, once, to an `UpstreamFailure` (DESIGN:
"each upstream failure mapped once at the boundary"). Timeouts, per attempt:
- `connect`: opening the TCP (and TLS) connection (the HTTP client's own);
- `first_byte`: from sending the request to the response head, and again from the head to the
  stream's first event;
- `idle`: the longest silence between two reads after that.
The call's own deadline is the caller's business: it cancels the task, and the upstream
response is closed with it.

A stream is held back until its first event with content (text, reasoning, tool call or a
finish reason): until then the attempt can still fail and the walk may try another candidate
without the client seeing anything. At that point `run_attempt` returns `AttemptStreaming`
with the bytes so far and an `UpstreamStream`, which whoever relays the stream reads on
demand: no task and no channel between the upstream socket and the client's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs
import trio

from actors.http_client import ConnectError, ConnectTimeout, HttpClient, HttpClientError, Response
from actors.http_client import RemoteProtocolError as UpstreamProtocolError
from actors.messages import (
    Attempt,
    AttemptFailed,
    AttemptOutcome,
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
from protocols.ratelimit_headers import WindowState, window_states
from protocols.redact import scrub
from protocols.responses.native import NativeStreamGate, check_native_response
from protocols.stream_usage import UsageTap
from protocols.usage import Usage

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
    def of(cls, attempt: Attempt, ask_usage: bool) -> _Dialect:
        model = attempt.target.model
        if attempt.native is not None:
            body = jsoncodec.dumps({**attempt.native, "model": model})
            return cls("responses", body, check_native_response, NativeStreamGate())
        request = attempt.request
        body = request.body_for(model, ask_usage=ask_usage)
        gate = ChatStreamGate(usage=UsageTap(keep=request.include_usage))
        return cls("chat/completions", body, check_completion, gate)


def _status_fault(response: Response, body: bytes) -> UpstreamFault:
    """An error status, classified once (Retry-After and rate-limit headers included)."""
    return UpstreamFault(
        classify_response(response.status, body, response.headers, now=time.time())
    )


def _fault(kind: FailureClass, message: str) -> UpstreamFault:
    return UpstreamFault(UpstreamFailure(kind, message))


@attrs.define
class _Run:
    """One attempt in progress: what it sends, and what the upstream's headers said."""

    client: HttpClient
    attempt: Attempt
    timeouts: Timeouts
    headers: list[tuple[bytes, bytes]]
    dialect: _Dialect
    windows: tuple[WindowState, ...] = ()


async def run_attempt(
    client: HttpClient,
    attempt: Attempt,
    timeouts: Timeouts,
    headers: list[tuple[bytes, bytes]],
    *,
    ask_usage: bool = True,
) -> AttemptOutcome:
    """Perform `attempt` up to its answer, or for a stream up to its commit point.
    `ask_usage`: a stream asks the upstream for its usage chunk (`stream_options`)."""
    run = _Run(client, attempt, timeouts, headers, _Dialect.of(attempt, ask_usage))
    try:
        if attempt.request.stream:
            return await _stream(run)
        return await _complete(run)
    except UpstreamFault as fault:
        return AttemptFailed(scrubbed(fault.failure, attempt), run.windows)


async def _complete(run: _Run) -> AttemptOutcome:
    timeouts, dialect = run.timeouts, run.dialect
    response = await _send(run)
    try:
        with trio.move_on_after(timeouts.idle) as idle:
            body = await _read_body(response)
        if idle.cancelled_caught:
            raise _fault(FailureClass.TIMEOUT, f"upstream stalled for {timeouts.idle:g}s")
    finally:
        await response.aclose()
    if response.status >= 300:
        raise _status_fault(response, body)
    problem = dialect.check(body)
    if problem is not None:
        raise UpstreamFault(problem)
    return AttemptSucceeded(body, run.windows)


async def _stream(run: _Run) -> AttemptOutcome:
    dialect = run.dialect
    response = await _send(run)
    upstream: UpstreamStream | None = None
    try:
        if response.status >= 300:
            raise _status_fault(response, await _read_body(response))
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            body = await _read_body(response)
            problem = dialect.check(body)
            raise UpstreamFault(
                problem
                or UpstreamFailure(
                    FailureClass.MALFORMED,
                    "upstream answered a stream request without a stream",
                    status=response.status,
                )
            )
        upstream = UpstreamStream(response, dialect.gate, run.timeouts, run.attempt)
        first = await upstream.until_committed()
        return AttemptStreaming(first, upstream, run.windows)
    finally:
        if upstream is None or not upstream.committed:
            await response.aclose()


class UpstreamStream:
    """A committed upstream stream, read on demand: each `next_event` returns `StreamData`,
    or a last `StreamEnded` / `StreamBroke` (returned again if asked again)."""

    def __init__(
        self, response: Response, gate: Gate, timeouts: Timeouts, attempt: Attempt
    ) -> None:
        self._response = response
        self._chunks = response.iter_raw()
        self._gate = gate
        self._timeouts = timeouts
        self._attempt = attempt
        self._final: StreamEnded | StreamBroke | None = None
        self.committed = False

    async def until_committed(self) -> bytes:
        """Read until the first content (returned with what came before it). Raises
        `UpstreamFault` for a failure before that: the walk may still try another candidate."""
        gate = self._gate
        limit = self._timeouts.first_byte
        while True:
            raw = await self._read(limit)
            if raw is None:  # the body ended: a reply without content is still a reply
                held = gate.end()
                self._final = StreamEnded()
                self.committed = True
                return held
            passed = gate.feed(raw)
            if gate.fault is not None:
                self._final = StreamBroke(scrubbed(gate.fault, self._attempt))
            if passed:
                self.committed = True
                return passed
            if gate.fault is not None:
                raise UpstreamFault(gate.fault)
            limit = _DRAIN_LIMIT if gate.done else self._timeouts.idle

    async def next_event(self) -> StreamData | StreamEnded | StreamBroke:
        if self._final is not None:
            return self._final
        gate = self._gate
        try:
            while True:
                raw = await self._read(_DRAIN_LIMIT if gate.done else self._timeouts.idle)
                if raw is None:
                    tail = gate.end()
                    self._final = StreamEnded()
                    return StreamData(tail) if tail else self._final
                passed = gate.feed(raw)
                if gate.fault is not None:
                    self._final = StreamBroke(scrubbed(gate.fault, self._attempt))
                if passed:
                    return StreamData(passed)
                if self._final is not None:
                    return self._final
        except UpstreamFault as fault:
            self._final = StreamBroke(scrubbed(fault.failure, self._attempt))
            return self._final

    async def _read(self, limit: float) -> bytes | None:
        """The next piece of the body; None at its end (or when a finished stream lingers)."""
        with trio.move_on_after(limit):
            try:
                return await self._chunks.__anext__()
            except StopAsyncIteration:
                return None
            except HttpClientError as exc:
                raise _transport_fault(exc, after_headers=True) from None
        if self._gate.done:
            return None  # [DONE] came but the body did not end: let it go
        phase = "after it started" if self._gate.started else "before its first event"
        raise _fault(
            FailureClass.TIMEOUT, f"upstream stream stalled {phase} (no data for {limit:g}s)"
        )

    @property
    def usage(self) -> Usage | None:
        """The usage the upstream reported in the stream so far (None: none yet)."""
        tap = getattr(self._gate, "usage", None)
        return tap.usage if isinstance(tap, UsageTap) else None

    async def aclose(self) -> None:
        await self._response.aclose()


async def _send(run: _Run) -> Response:
    timeouts, dialect = run.timeouts, run.dialect
    with trio.move_on_after(timeouts.first_byte):
        try:
            response = await run.client.request(
                "POST", dialect.path, _auth_headers(run.attempt, run.headers), dialect.body
            )
        except HttpClientError as exc:
            raise _transport_fault(exc, after_headers=False) from None
        run.windows = window_states(response.headers, now=time.time())
        return response
    raise _fault(FailureClass.TIMEOUT, f"upstream sent no reply within {timeouts.first_byte:g}s")


async def _read_body(response: Response) -> bytes:
    try:
        return await response.read()
    except HttpClientError as exc:
        raise _transport_fault(exc, after_headers=True) from None


def _auth_headers(
    attempt: Attempt, headers: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    if attempt.credential.secret is None:
        return headers
    return [*headers, (b"authorization", b"Bearer " + attempt.credential.secret.encode())]


def _transport_fault(exc: HttpClientError, *, after_headers: bool) -> UpstreamFault:
    if isinstance(exc, ConnectTimeout):
        return _fault(FailureClass.TIMEOUT, "upstream timed out while connecting")
    if isinstance(exc, ConnectError):
        return _fault(FailureClass.CONNECT, "could not connect to the upstream")
    if isinstance(exc, UpstreamProtocolError) and not after_headers:
        return _fault(FailureClass.MALFORMED, "upstream did not answer in HTTP")
    if after_headers:
        return _fault(FailureClass.CONNECT, "upstream connection was cut mid-reply")
    return _fault(FailureClass.CONNECT, f"upstream transport error ({type(exc).__name__})")


def scrubbed(failure: UpstreamFailure, attempt: Attempt) -> UpstreamFailure:
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
