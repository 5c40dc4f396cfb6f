"""A committed-or-not upstream event stream, read through its gate inside the provider actor.

`until_committed` reads up to the first event with content (text, reasoning, a tool call or a
finish reason); a failure before that raises `UpstreamFault`, and the walk may still try another
candidate without the client seeing anything. `relay` then sends the rest on the attempt's reply
channel: each piece the gate lets through as `StreamData`, the stream's usage as `StreamUsage`
when it reports one, and last `StreamEnded` or `StreamBroke`.

Reads are bounded in time and bytes: `first_byte` from the head to the first whole event with
content, `idle` between two events that pass the gate after that (bytes that make no event
are not progress: an upstream that drips a byte a second keeps neither clock running),
`DRAIN_LIMIT` for the end of a body whose `[DONE]` came (an upstream that lingers is
let go), one line or event at the provider's `max_event_bytes` (the gate's SSE decoder refuses
a longer one), and at most `MAX_QUIET_BYTES` taken in without anything passing the gate
(endless events that never commit): past either the stream is malformed, not a reason to grow
without limit.
A transport error after the head is a cut (`actors.upstream_client.transport_failure`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs
import httpx2
import trio

from actors.messages import Attempt, AttemptReply, StreamBroke, StreamData, StreamEnded, StreamUsage
from actors.upstream_client import scrubbed, transport_failure
from config.model import Timeouts
from protocols.anthropic.native import MessagesNativeGate
from protocols.chat_stream import ChatStreamGate
from protocols.failures import FailureClass, UpstreamFailure, UpstreamFault
from protocols.responses.native import NativeStreamGate
from protocols.stream_usage import UsageTap
from protocols.usage import Usage

MIB = 1024 * 1024
MAX_QUIET_BYTES = 8 * MIB  # stream bytes in a row that pass nothing on
DRAIN_LIMIT = 1.0  # seconds to wait for the end of a body after its [DONE]

Gate = ChatStreamGate | NativeStreamGate | MessagesNativeGate
Reply = trio.MemorySendChannel[AttemptReply]


@attrs.define
class StreamReader:
    """An upstream event stream read through its gate: up to the commit point, then relayed."""

    chunks: AsyncIterator[bytes]
    gate: Gate
    timeouts: Timeouts
    attempt: Attempt
    ended: bool = False  # the body ended (cleanly) before or at the commit point
    _quiet: int = 0  # bytes taken in since the gate last let something through
    _usage: Usage | None = None  # the usage last told to the requester

    async def until_committed(self) -> bytes:
        """Read until the first content (returned with what came before it). Raises
        `UpstreamFault` for a failure before that: the walk may still try another candidate."""
        gate = self.gate
        first_byte = self.timeouts.first_byte
        deadline = trio.current_time() + first_byte  # for the first whole event with content
        while True:
            if gate.done:
                deadline = min(deadline, trio.current_time() + DRAIN_LIMIT)
            raw = await self._read(deadline, first_byte)
            if raw is None:  # the body ended: a reply without content is still a reply
                self.ended = True
                return gate.end()
            passed = self._feed(raw)
            if passed:
                return passed
            if gate.fault is not None:
                raise UpstreamFault(gate.fault)

    async def relay(self, reply: Reply) -> None:
        """Send the rest of a committed stream: `StreamData`, then its end."""
        gate = self.gate
        broke = gate.fault  # found in the bytes that committed the stream
        idle = self.timeouts.idle
        progress = trio.current_time()  # when an event last passed the gate
        try:
            while not self.ended and broke is None:
                if gate.done:
                    raw = await self._read(trio.current_time() + DRAIN_LIMIT, DRAIN_LIMIT)
                else:
                    raw = await self._read(progress + idle, idle)
                if raw is None:
                    self.ended = True
                    passed = gate.end()
                else:
                    passed = self._feed(raw)
                    broke = gate.fault
                if passed:
                    progress = trio.current_time()
                    await self._tell_usage(reply)
                    await reply.send(StreamData(passed))
        except UpstreamFault as fault:
            broke = fault.failure
        await self._tell_usage(reply)
        if broke is not None:
            await reply.send(StreamBroke(scrubbed(broke, self.attempt)))
        else:
            await reply.send(StreamEnded())

    def _feed(self, raw: bytes) -> bytes:
        passed = self.gate.feed(raw)
        if passed:
            self._quiet = 0
            return passed
        self._quiet += len(raw)
        if self._quiet > MAX_QUIET_BYTES:
            message = f"upstream sent over {MAX_QUIET_BYTES // MIB} MiB without a whole event"
            raise _fault(FailureClass.MALFORMED, message)
        return passed

    async def _tell_usage(self, reply: Reply) -> None:
        tap = getattr(self.gate, "usage", None)
        if isinstance(tap, UsageTap) and tap.usage is not None and tap.usage is not self._usage:
            self._usage = tap.usage
            await reply.send(StreamUsage(tap.usage))

    async def _read(self, deadline: float, limit: float) -> bytes | None:
        """The next piece of the body by `deadline` (`limit` seconds after the clock that set
        it started); None at its end (or when a finished stream lingers)."""
        with trio.move_on_at(deadline):
            try:
                return await anext(self.chunks)
            except StopAsyncIteration:
                return None
            except httpx2.HTTPError as exc:
                raise UpstreamFault(transport_failure(exc, after_head=True)) from exc
        if self.gate.done:
            return None  # [DONE] came but the body did not end: let it go
        phase = "after it started" if self.gate.started else "before its first event"
        raise _fault(
            FailureClass.TIMEOUT, f"upstream stream stalled {phase} (no event for {limit:g}s)"
        )


def _fault(kind: FailureClass, message: str) -> UpstreamFault:
    return UpstreamFault(UpstreamFailure(kind, message))
