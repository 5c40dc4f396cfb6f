"""The supervisor: every call is a `Call` message, walked down its chain in a task of its own.

One path for every endpoint. The Responses routes `submit` a `Call` and read its events from
the call's reply channel; the Chat routes `call()`, a requester-side façade that submits the
same message and turns the first events into a `CallOutcome` (a `Streaming` whose relay reads
the rest from the reply channel). Either way the supervisor starts one task per call, in its
own nursery and in a copy of the requester's context (so the walk's log lines carry the
request's id), inside the cancel scope the `Call` carries, bounded by the call's deadline
plus a grace: the requester cancels the scope when it stops caring.

**Containment.** A walk that raises is the call's failure, not the gateway's: the traceback is
logged once, the client gets a 500 `internal_error` envelope (`Failed`), or, if its stream had
started, a `StreamBroke` that ends the stream with the protocol's own error; every other call
carries on. The inbox loop that starts the tasks is itself supervised apart from the calls'
nursery: if it crashes, the call in hand is answered 500, the loop restarts (with backoff) and
the calls in flight never notice.

**Overload.** The inbox is bounded. A call that finds it full is answered at once with a 503
`gateway_overloaded`; nothing queues without limit. `submit` stays synchronous for that reason:
it never waits, it answers.
"""

from __future__ import annotations

import contextvars
from functools import partial

import attrs
import trio
from loguru import logger

from actors.credentials import CredentialPool
from actors.health import HealthChecker
from actors.messages import (
    Call,
    CallEvent,
    CallOutcome,
    Completed,
    Failed,
    Hop,
    Native,
    Provenance,
    StreamBroke,
    StreamData,
    Streaming,
    StreamStarted,
    UpstreamRequest,
)
from actors.provider import ProviderActor
from actors.relay import CallRelay
from actors.routing import Router
from actors.supervision import supervise, tell
from actors.walk import Walk
from protocols.errors import GatewayOverloaded, InternalError
from protocols.failures import FailureClass, UpstreamFailure

INBOX_SIZE = 1024
REPLY_BUFFER = 16  # events a call's stream may run ahead of its client
_BACKSTOP_GRACE = 5.0
_CRASHED = "baton failed while handling this call (internal error; see the gateway's log)"
_CUT = UpstreamFailure(FailureClass.SERVER, _CRASHED, code="internal_error")


@attrs.define
class Supervisor:
    router: Router
    pools: dict[str, CredentialPool]
    providers: dict[str, ProviderActor]
    health: HealthChecker | None = None
    walks_failed: int = attrs.field(init=False, default=0)  # walks that raised: bugs
    _send: trio.MemorySendChannel[Call] = attrs.field(init=False, repr=False)
    _inbox: trio.MemoryReceiveChannel[Call] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._send, self._inbox = trio.open_memory_channel[Call](INBOX_SIZE)

    # -- the requester's side -------------------------------------------------------------

    async def call(
        self,
        request: UpstreamRequest,
        deadline: float,
        native: Native | None = None,
        hops: list[Hop] | None = None,
    ) -> CallOutcome:
        """Submit `request` and wait for its outcome by `deadline`. A `Streaming` outcome's
        relay must be closed by the caller. `hops`, when given, is where the walk writes its
        trail as it goes: what a caller that is cancelled still gets to see."""
        reply, receive = trio.open_memory_channel[CallEvent](REPLY_BUFFER)
        call = Call(request, deadline, reply, native=native, hops=hops)
        self.submit(call)
        try:
            first = await _next(receive)
            if isinstance(first, StreamStarted):
                data = await _next(receive)
                if isinstance(data, StreamData):
                    relay = CallRelay(call.scope, receive)
                    return Streaming(first.provenance, data.data, relay, first.native)
                first = Failed(InternalError(_CRASHED), first.provenance)  # a broken rule
        except BaseException:
            call.scope.cancel()
            receive.close()
            raise
        receive.close()
        assert isinstance(first, Completed | Failed), first
        return first

    def submit(self, call: Call) -> None:
        """Hand `call` to the supervisor: its events come on `call.reply`. Never waits: when
        the supervisor is overloaded the call is answered at once with a 503."""
        if call.context is None:
            call = attrs.evolve(call, context=contextvars.copy_context())
        if not tell(self._send, call):
            overloaded = GatewayOverloaded("the gateway is overloaded: retry shortly")
            _answer_and_close(call, Failed(overloaded, Provenance(None, None, 0)))

    # -- the actor ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The calls' nursery, and in it the supervised inbox loop that fills it."""
        async with trio.open_nursery() as calls:
            loop = partial(self._dispatch, calls)
            await calls.start(partial(supervise, "supervisor inbox", loop))
            task_status.started()

    async def _dispatch(
        self, calls: trio.Nursery, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        async for call in self._inbox:
            try:
                self._start(calls, call)
            except BaseException:
                _answer_and_close(call, Failed(InternalError(_CRASHED), Provenance(None, None, 0)))
                raise
            del call  # not held while waiting for the next: it carries the request

    def _start(self, calls: trio.Nursery, call: Call) -> None:
        context = call.context or contextvars.copy_context()
        context.run(calls.start_soon, self._serve, call)  # the task copies `context`

    async def _serve(self, call: Call) -> None:
        # The walk answers by the deadline itself; this backstop ends it even if nobody ever
        # reads its reply (an edge that was cancelled before it could).
        call.scope.deadline = min(call.scope.deadline, call.deadline + _BACKSTOP_GRACE)
        hops = [] if call.hops is None else call.hops
        started = False
        with call.scope, call.reply, logger.contextualize(request_id=call.request_id):
            try:
                walk = Walk(
                    call.request,
                    call.deadline,
                    call.native,
                    self.router,
                    self.pools,
                    self.providers,
                    self.health,
                    hops=hops,
                )
                outcome = await walk.run()
                if not isinstance(outcome, Streaming):
                    await call.reply.send(outcome)
                    return
                started = True
                await _pump(call, outcome)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the client went away
            except Exception as exc:
                self.walks_failed += 1
                logger.opt(exception=exc).error(
                    "a call for {} crashed in its walk; answered with an internal error",
                    call.request.model,
                )
                if started:
                    tell(call.reply, StreamBroke(_CUT))
                else:
                    tell(call.reply, Failed(InternalError(_CRASHED), _trail(hops)))


async def _pump(call: Call, outcome: Streaming) -> None:
    """Forward a committed stream to the call's reply channel; the relay is closed (its key
    given back, its upstream closed) however this ends."""
    relay = outcome.relay
    try:
        await call.reply.send(StreamStarted(outcome.provenance, outcome.native))
        await call.reply.send(StreamData(outcome.first))
        while True:
            event = await relay.next_event()
            if not isinstance(event, StreamData):
                if relay.usage is not None:
                    event = attrs.evolve(event, usage=relay.usage)
                await call.reply.send(event)
                return
            await call.reply.send(event)
    finally:
        with trio.CancelScope(shield=True):
            await relay.aclose()


async def _next(receive: trio.MemoryReceiveChannel[CallEvent]) -> CallEvent:
    try:
        return await receive.receive()
    except trio.EndOfChannel:  # dropped unanswered: only a bug does that
        return Failed(InternalError(_CRASHED), Provenance(None, None, 0))


def _trail(hops: list[Hop]) -> Provenance:
    return Provenance(None, None, sum(1 for hop in hops if hop.attempted), tuple(hops))


def _answer_and_close(call: Call, event: CallEvent) -> None:
    tell(call.reply, event)
    call.reply.close()
