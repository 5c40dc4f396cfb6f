"""The supervisor: where calls are walked down their chains.

`call()` walks a chain in the caller's own task and returns the outcome (the Chat routes use
it: nothing between the client's task and the upstream's socket). `submit()` is the message
form for callers that must do something else while the walk runs (the Responses stream sends
keep-alives until it commits): the walk then runs in a task of the supervisor's, inside the
cancel scope the caller gave, and its events come back on the call's reply channel.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import trio
from loguru import logger

from actors.credentials import CredentialPool
from actors.health_book import HealthBook
from actors.messages import Call, CallOutcome, Hop, StreamData, Streaming, StreamStarted
from actors.provider import ProviderActor
from actors.routing import Router
from actors.walk import Walk
from protocols.chat import ChatRequest

_BACKSTOP_GRACE = 5.0


@attrs.define
class Supervisor:
    router: Router
    pools: dict[str, CredentialPool]
    providers: dict[str, ProviderActor]
    health: HealthBook | None = None
    _send: trio.MemorySendChannel[Call] = attrs.field(init=False)
    _inbox: trio.MemoryReceiveChannel[Call] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._send, self._inbox = trio.open_memory_channel[Call](math.inf)

    async def call(
        self,
        request: ChatRequest,
        deadline: float,
        native: dict[str, Any] | None = None,
        hops: list[Hop] | None = None,
        request_id: str | None = None,
    ) -> CallOutcome:
        """Walk `request`'s chain here, in the caller's task, by `deadline`. A `Streaming`
        outcome's relay must be closed by the caller. `hops`, when given, is where the walk
        writes its trail as it goes: what a caller that is cancelled still gets to see."""
        walk = Walk(
            request,
            deadline,
            native,
            self.router,
            self.pools,
            self.providers,
            self.health,
            hops=[] if hops is None else hops,
        )
        return await walk.run()

    async def submit(self, call: Call) -> None:
        await self._send.send(call)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            async for call in self._inbox:
                nursery.start_soon(self._serve, call)

    async def _serve(self, call: Call) -> None:
        # The walk answers by the deadline itself; this backstop ends it even if nobody ever
        # reads its reply (an edge that was cancelled before it could).
        call.scope.deadline = min(call.scope.deadline, call.deadline + _BACKSTOP_GRACE)
        with call.scope, call.reply, logger.contextualize(request_id=call.request_id):
            try:
                outcome = await self.call(call.request, call.deadline, call.native, call.hops)
                if not isinstance(outcome, Streaming):
                    await call.reply.send(outcome)
                    return
                try:
                    await call.reply.send(StreamStarted(outcome.provenance, outcome.native))
                    await call.reply.send(StreamData(outcome.first))
                    while True:
                        event = await outcome.relay.next_event()
                        await call.reply.send(event)
                        if not isinstance(event, StreamData):
                            return
                finally:
                    with trio.CancelScope(shield=True):
                        await outcome.relay.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the client went away
