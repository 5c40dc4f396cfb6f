"""One attempt on httpx2: a request to one upstream with one key, performed in a task of the
provider actor, answered on the attempt's reply channel (`actors.messages.AttemptReply`).

Every way the exchange can go wrong is mapped here, once, to an `UpstreamFailure` (DESIGN:
"each upstream failure mapped once at the boundary"; transport errors by
`actors.upstream_client.transport_failure`). Timeouts, per attempt:
- `connect`: opening the connection (TCP, a proxy's tunnel, TLS) and waiting for a free one
  from the pool: httpx2's own, set on the client;
- `first_byte`: from sending the request to the response head, and again from the head to the
  stream's first event (trio scopes here);
- `idle`: the longest silence between two reads of a stream after that; the whole of a
  non-streamed body.
The call's own deadline is the requester's business: it cancels the attempt's scope, which
cancels this task where it stands, and the response is closed on the way out.

Bytes from the upstream are bounded, counted once decoded (`upstream_client.decoded_body`): a
whole body at the provider's `max_response_bytes`, one line or event of a stream at its
`max_event_bytes` (a stream's other bounds are `actors.upstream_stream`'s). Past either the
reply is malformed, not a reason to grow without limit: before the commit point the walk tries
the next candidate, after it the stream ends with the protocol's error event.

A stream is held back until its first event with content (`StreamReader.until_committed`):
until then the attempt can still fail and the walk may try another candidate without the
client seeing anything. At that point `AttemptCommitted` goes to the requester with the bytes
so far, and this task keeps reading the upstream (`StreamReader.relay`). The reply channel is
bounded, so a slow client slows the reads and the upstream's TCP window does the rest.
"""

from __future__ import annotations

import time
from contextlib import aclosing

import attrs
import httpx2
import trio

from actors.messages import (
    Attempt,
    AttemptCommitted,
    AttemptFailed,
    AttemptSucceeded,
)
from actors.upstream_client import decoded_body, endpoint, scrubbed, transport_failure, windows_of
from actors.upstream_dialect import KEEP, Dialect, TemperatureZero
from actors.upstream_stream import Reply, StreamReader
from config.model import MAX_EVENT_BYTES, MAX_RESPONSE_BYTES, Timeouts
from protocols.failures import FailureClass, UpstreamFailure, UpstreamFault, classify_response
from protocols.ratelimit_headers import WindowState

CLOSE_LIMIT = 1.0  # seconds closing a response may take, however the attempt ended


@attrs.define
class Exchange:
    """How one provider's attempts are performed: its clients (shards of one pool, taken in
    turn), endpoints and timeouts."""

    clients: tuple[httpx2.AsyncClient, ...]
    base_url: str
    timeouts: Timeouts
    kind: str = "openai"  # how the provider is spoken to (actors.upstream_dialect)
    temperature: TemperatureZero = KEEP  # its `temperature_zero`
    ask_usage: bool = True  # a stream asks the upstream for its usage (`stream_options`)
    max_response_bytes: int = MAX_RESPONSE_BYTES  # a whole reply, decoded
    max_event_bytes: int = MAX_EVENT_BYTES  # one line or event of a stream, decoded
    _urls: dict[str, httpx2.URL] = attrs.field(factory=dict, init=False)
    _turn: int = 0

    async def perform(self, attempt: Attempt, reply: Reply) -> None:
        """Perform `attempt`, answering on `reply`. Raises `trio.BrokenResourceError` when the
        requester stopped listening."""
        run: _Run | None = None
        try:
            run = _Run(
                attempt,
                Dialect.of(
                    attempt, self.kind, self.ask_usage, self.max_event_bytes, self.temperature
                ),
            )
            if attempt.request.stream:
                await self._stream(run, reply)
            else:
                await reply.send(await self._complete(run))
        except UpstreamFault as fault:
            windows = run.windows if run is not None else ()
            await reply.send(AttemptFailed(scrubbed(fault.failure, attempt), windows))

    async def _complete(self, run: _Run) -> AttemptSucceeded:
        response = await self._send(run)
        try:
            body = await self._read_whole(response)
        finally:
            await _close(response)
        if response.status_code >= 300:
            raise _status_fault(response, body)
        problem = run.dialect.check(body)
        if problem is not None:
            raise UpstreamFault(problem)
        try:
            body = run.dialect.translate(body)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            message = f"upstream reply could not be translated: {type(exc).__name__}"
            raise _fault(FailureClass.MALFORMED, message) from exc
        return AttemptSucceeded(body, run.windows)

    async def _stream(self, run: _Run, reply: Reply) -> None:
        response = await self._send(run)
        try:
            if response.status_code >= 300:
                raise _status_fault(response, await self._read_whole(response))
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                body = await self._read_whole(response)
                raise UpstreamFault(
                    run.dialect.check(body)
                    or UpstreamFailure(
                        FailureClass.MALFORMED,
                        "upstream answered a stream request without a stream",
                        status=response.status_code,
                    )
                )
            async with aclosing(decoded_body(response)) as chunks:
                reader = StreamReader(chunks, run.dialect.gate, self.timeouts, run.attempt)
                first = await reader.until_committed()
                await reply.send(AttemptCommitted(first, run.windows))
                await reader.relay(reply)
        finally:
            await _close(response)

    async def _send(self, run: _Run) -> httpx2.Response:
        """The response, once its head is in (its body still to read, and to close)."""
        limit = self.timeouts.first_byte
        dialect = run.dialect
        url = self._urls.get(dialect.path)
        if url is None:
            url = self._urls[dialect.path] = endpoint(self.base_url, dialect.path)
        self._turn = turn = (self._turn + 1) % len(self.clients)
        client = self.clients[turn]
        request = client.build_request("POST", url, content=dialect.body, headers=dialect.headers)
        with trio.move_on_after(limit):
            try:
                response = await client.send(request, stream=True)
            except httpx2.HTTPError as exc:
                raise UpstreamFault(transport_failure(exc, after_head=False)) from exc
            run.windows = windows_of(response.headers)
            return response
        raise _fault(FailureClass.TIMEOUT, f"upstream sent no reply within {limit:g}s")

    async def _read_whole(self, response: httpx2.Response) -> bytes:
        """The whole body, within `idle` seconds and `max_response_bytes`. It gathers in one
        growing buffer, not a list of pieces: a big one lives in memory of its own that goes
        back to the system when it is let go, where thousands of pieces fragment the heap
        (a reply refused at the 32 MiB bound left the process 33 MB larger for good)."""
        body = bytearray()
        limit = self.max_response_bytes
        message = f"upstream reply is over max_response_bytes ({limit} bytes)"
        declared = response.headers.get("content-length", "")
        if (
            declared.isdigit()
            and int(declared) > limit
            and "content-encoding" not in response.headers
        ):
            raise _fault(FailureClass.MALFORMED, message)  # refused before it is read
        with trio.move_on_after(self.timeouts.idle):
            try:
                async with aclosing(decoded_body(response)) as chunks:
                    async for piece in chunks:
                        if len(body) + len(piece) > limit:
                            raise _fault(FailureClass.MALFORMED, message)
                        body += piece
            except httpx2.HTTPError as exc:
                raise UpstreamFault(transport_failure(exc, after_head=True)) from exc
            return bytes(body)
        raise _fault(FailureClass.TIMEOUT, f"upstream stalled for {self.timeouts.idle:g}s")


@attrs.define
class _Run:
    """One attempt in progress: what it sends, and what the upstream's headers said."""

    attempt: Attempt
    dialect: Dialect
    windows: tuple[WindowState, ...] = ()


async def _close(response: httpx2.Response) -> None:
    """Close `response` however the attempt ended (cancelled included), within a bound."""
    with trio.move_on_after(CLOSE_LIMIT, shield=True):
        await response.aclose()


def _status_fault(response: httpx2.Response, body: bytes) -> UpstreamFault:
    """An error status, classified once (Retry-After and rate-limit headers included)."""
    return UpstreamFault(
        classify_response(response.status_code, body, response.headers, now=time.time())
    )


def _fault(kind: FailureClass, message: str) -> UpstreamFault:
    return UpstreamFault(UpstreamFailure(kind, message))
