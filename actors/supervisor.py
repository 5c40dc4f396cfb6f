"""The supervisor: takes calls from the edge and walks each down its chain in its own task.

Each call runs inside the cancel scope the edge gave it: when the client goes away the edge
cancels that scope, the walk stops, and so does the attempt it was waiting on.
"""

from __future__ import annotations

import math

import attrs
import trio

from actors.credentials import CredentialPool
from actors.messages import Call
from actors.provider import ProviderActor
from actors.routing import Router
from actors.walk import Walk

_BACKSTOP_GRACE = 5.0


@attrs.define
class Supervisor:
    router: Router
    pools: dict[str, CredentialPool]
    providers: dict[str, ProviderActor]
    _send: trio.MemorySendChannel[Call] = attrs.field(init=False)
    _inbox: trio.MemoryReceiveChannel[Call] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._send, self._inbox = trio.open_memory_channel[Call](math.inf)

    def submit(self, call: Call) -> None:
        self._send.send_nowait(call)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            async for call in self._inbox:
                nursery.start_soon(self._serve, call)

    async def _serve(self, call: Call) -> None:
        # The walk answers by the deadline itself; this backstop ends it even if nobody ever
        # reads its reply (an edge that was cancelled before it could).
        call.scope.deadline = min(call.scope.deadline, call.deadline + _BACKSTOP_GRACE)
        with call.scope, call.reply:
            try:
                await Walk(call, self.router, self.pools, self.providers).run()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the client went away; the walk's own clean-up has run
