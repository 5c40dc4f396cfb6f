"""The requester's end of a committed stream: what `Supervisor.call` hands the Chat edge.

The call's walk runs in a task of the supervisor's and forwards the stream's events to the
call's reply channel; `CallRelay` reads them on demand, with the `UpstreamEvents` interface
the edge reads any stream with. The end event (`StreamEnded`, `StreamBroke`) is returned again
if asked again, and carries the usage the stream reported. `aclose` cancels the call's scope
(the walk's task stops where it stands: its upstream request is closed and its key given
back) and waits, shielded and bounded, until that task has finished, so when `aclose`
returns the key is back, as it was when the edge read the upstream itself.
"""

from __future__ import annotations

import trio

from actors.messages import CallEvent, StreamBroke, StreamData, StreamEnded
from protocols.failures import FailureClass, UpstreamFailure
from protocols.usage import Usage

CLOSE_GRACE = 5.0
_LOST = UpstreamFailure(FailureClass.SERVER, "the stream was lost", code="internal_error")


class CallRelay:
    def __init__(
        self, scope: trio.CancelScope, receive: trio.MemoryReceiveChannel[CallEvent]
    ) -> None:
        self._scope = scope
        self._receive = receive
        self._end: StreamEnded | StreamBroke | None = None

    async def next_event(self) -> StreamData | StreamEnded | StreamBroke:
        if self._end is not None:
            await trio.lowlevel.checkpoint()
            return self._end
        try:
            event = await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            event = StreamBroke(_LOST)
        if isinstance(event, StreamData):
            return event
        if not isinstance(event, StreamEnded | StreamBroke):  # not a stream's event: a bug
            event = StreamBroke(_LOST)
        self._end = event
        return event

    @property
    def usage(self) -> Usage | None:
        return None if self._end is None else self._end.usage

    async def aclose(self) -> None:
        self._scope.cancel()
        with trio.CancelScope(shield=True):
            with trio.move_on_after(CLOSE_GRACE):
                async for _ in self._receive:  # until the walk's task closes its end
                    pass
        self._receive.close()
