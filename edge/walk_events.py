"""What the streaming routes share while a submitted call's walk goes on (Responses and
Messages streams, which keep their client company while an upstream is slow to start).

`submit` hands the call to the supervisor with a reply channel of its own; `first_event`
waits up to one keep-alive for the walk's first event (a failure then is still a plain HTTP
error, nothing having been sent), cancelling the call if the client leaves meanwhile;
`next_event` gives each later one, or None when a keep-alive is due; `walked` logs and
records the walk once it is over.
"""

from __future__ import annotations

from contextlib import nullcontext

import attrs
import trio

from actors.messages import Call, Native, Provenance, StreamBroke
from actors.system import ActorSystem
from actors.telemetry.record import CANCELLED
from edge.call_log import log_failed_hops
from edge.meter import CallMeter
from edge.request_log import CallTrail
from protocols.chat import ChatRequest
from protocols.failures import FailureClass, UpstreamFailure

Events = trio.MemoryReceiveChannel[object]
EVENTS_BUFFER = 16
_LOST = UpstreamFailure(FailureClass.SERVER, "the stream was lost")


def submit(
    system: ActorSystem, chat: ChatRequest, native: Native | None, meter: CallMeter
) -> tuple[Call, Events]:
    send, receive = trio.open_memory_channel[object](EVENTS_BUFFER)
    deadline = trio.current_time() + system.config.timeouts.total
    call = Call(chat, deadline, send, native=native, request_id=meter.request_id, hops=meter.hops)
    system.supervisor.submit(call)
    return call, receive


async def first_event(call: Call, events: Events, meter: CallMeter, keepalive: float) -> object:
    """The walk's first event, or None if a keep-alive is due first. A client that leaves
    meanwhile cancels the call and is recorded as such."""
    try:
        with trio.move_on_after(keepalive):
            return await events.receive()
    except BaseException:
        call.scope.cancel()
        events.close()
        meter.finish(499, CANCELLED, None)
        raise
    return None


async def next_event(events: Events, keepalive: float | None) -> object | None:
    """The walk's next event; None if `keepalive` seconds pass first (None: wait as long as
    it takes, the stream being committed). A channel that ends mid-stream is a lost stream."""
    with trio.move_on_after(keepalive) if keepalive is not None else nullcontext():
        try:
            return await events.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return StreamBroke(_LOST)
    return None


@attrs.define
class WalkEvents:
    """A submitted call's events as a stream body reads them: the one its route already read
    (`first_event`), if any, then the channel's (`next_event`)."""

    channel: Events
    first: object | None = None

    async def next(self, keepalive: float | None) -> object | None:
        if self.first is not None:
            event, self.first = self.first, None
            await trio.lowlevel.checkpoint()
            return event
        return await next_event(self.channel, keepalive)

    def close(self) -> None:
        self.channel.close()


def walked(provenance: Provenance, trail: CallTrail | None) -> None:
    """The walk is over (served, committed or failed): log and record how it went."""
    log_failed_hops(provenance)
    if trail is not None:
        trail.attempts(provenance.hops)
