"""The provider actor: owns one provider's httpx2 clients (its pool of upstream connections,
in shards: `actors.upstream_client`) and runs each attempt in a task of its own nursery,
streaming the outcome back.

Two sides, one object:

- The actor (`run`) reads `Attempt` messages from its bounded inbox and starts each in its
  nursery. The task enters the cancel scope the message carries, performs the exchange
  (`actors.exchange`) and answers on the message's reply channel, which it closes when done.
- The requester's side (`attempt`, what the walk awaits) makes the reply channel and the
  scope, sends the message, and waits for the first answer. A whole reply or a failure is
  returned as it is; a committed stream comes back as `AttemptStreaming` whose `upstream` (an
  `AttemptStream`) reads the rest from the same channel. The requester cancels the scope when
  it stops caring (an answer came, the client left, the deadline passed, the stream was
  closed), which cancels the attempt where it stands inside the actor and closes the upstream
  response.

Crashes: an exception from one attempt is logged once and ends that attempt only (its channel
closes, and the requester reads that as a `server` failure, so the walk fails over). An actor
that stops (crashed, or the system stopping) cancels every attempt it runs, refuses what waits
in its inbox, and closes its client; each requester gets `AttemptFailed` (or `StreamBroke`),
never a hang. `run` may be called again on the same object (the supervisor restarts a crashed
actor that way): the inbox outlives it, and a fresh client is opened. While the actor is not
running, `attempt` fails at once, rather than wait on a restart.
"""

from __future__ import annotations

import attrs
import trio
from loguru import logger

from actors.exchange import Exchange
from actors.messages import (
    Attempt,
    AttemptCommitted,
    AttemptFailed,
    AttemptOutcome,
    AttemptReply,
    AttemptStreaming,
    AttemptSucceeded,
    ProviderMessage,
    StreamBroke,
    StreamData,
    StreamEnded,
    StreamUsage,
)
from actors.upstream_client import open_clients
from actors.upstream_dialect import TemperatureZero
from config.model import ProviderConfig, Timeouts
from protocols.failures import FailureClass, UpstreamFailure
from protocols.usage import Usage

INBOX_SIZE = 64  # attempts handed over, not yet started (the actor starts them at once)
REPLY_SIZE = 8  # stream events read ahead of the requester
STOPPED = UpstreamFailure(FailureClass.SERVER, "the provider actor is not running")
LOST = UpstreamFailure(FailureClass.SERVER, "the provider actor stopped during the attempt")


@attrs.define
class ProviderActor:
    config: ProviderConfig
    timeouts: Timeouts
    running: bool = attrs.field(default=False, init=False)  # published: read, never written
    _inbox_send: trio.MemorySendChannel[ProviderMessage] = attrs.field(init=False, repr=False)
    _inbox: trio.MemoryReceiveChannel[ProviderMessage] = attrs.field(init=False, repr=False)
    _exchange: Exchange | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._inbox_send, self._inbox = trio.open_memory_channel[ProviderMessage](INBOX_SIZE)
        self._open()

    # -- the requester's side -----------------------------------------------------------------

    async def attempt(self, attempt: Attempt) -> AttemptOutcome:
        """Have the actor perform `attempt`; its outcome, or for a stream its commit point.
        Cancelling the caller cancels the attempt. Never raises for the attempt's sake."""
        if not self.running:
            await trio.lowlevel.checkpoint()
            return AttemptFailed(STOPPED)
        send, receive = trio.open_memory_channel[AttemptReply](REPLY_SIZE)
        scope = trio.CancelScope()
        streaming = False
        try:
            await self._inbox_send.send(attrs.evolve(attempt, reply=send, scope=scope))
            try:
                first = await receive.receive()
            except trio.EndOfChannel:
                return AttemptFailed(LOST)
            if isinstance(first, AttemptCommitted):
                streaming = True
                return AttemptStreaming(first.first, AttemptStream(receive, scope), first.windows)
            if isinstance(first, AttemptSucceeded | AttemptFailed):
                return first
            return AttemptFailed(_unexpected(first))
        finally:
            if not streaming:
                scope.cancel()
                receive.close()

    # -- the actor ------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve attempts until cancelled (or crashed); then stop every one of them."""
        exchange = self._open()
        try:
            async with trio.open_nursery() as nursery:
                self.running = True
                task_status.started()
                while True:
                    message = await self._inbox.receive()
                    nursery.start_soon(self._serve, exchange, message)
                    # not held while waiting for the next: an attempt carries its request,
                    # and a 19 MB one kept the process 60 MB larger until the next call
                    del message
        finally:
            self.running = False
            self._refuse_waiting()
            self._exchange = None
            with trio.move_on_after(1.0, shield=True):
                for client in exchange.clients:
                    await client.aclose()

    async def _serve(self, exchange: Exchange, attempt: Attempt) -> None:
        assert attempt.reply is not None and attempt.scope is not None
        with attempt.reply, attempt.scope:
            try:
                await exchange.perform(attempt, attempt.reply)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the requester stopped listening
            except Exception:
                logger.exception(
                    "attempt on {} ({}) raised; it fails over",
                    attempt.target.label,
                    attempt.credential.alias,
                )

    def _open(self) -> Exchange:
        """The exchange on clients that are open: the ones made with the actor, or after a
        stop fresh ones (a closed httpx2 client cannot be reopened)."""
        if self._exchange is None:
            clients = open_clients(self.config, self.timeouts)
            self._exchange = Exchange(
                clients,
                self.config.base_url,
                self.timeouts,
                kind=self.config.kind,
                ask_usage=self.config.stream_usage,
                max_response_bytes=self.config.max_response_bytes,
                max_event_bytes=self.config.max_event_bytes,
                temperature=TemperatureZero(
                    self.config.temperature_zero, self.config.temperature_zero_value
                ),
            )
        return self._exchange

    def _refuse_waiting(self) -> None:
        """Answer every attempt still in the inbox: the actor will not run it."""
        while True:
            try:
                message = self._inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return
            if message.reply is not None:
                with message.reply:
                    try:
                        message.reply.send_nowait(AttemptFailed(STOPPED))
                    except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                        pass


@attrs.define
class AttemptStream:
    """The requester's end of a committed stream (`UpstreamEvents`): the actor's events, read
    from the attempt's reply channel; closing it cancels the attempt inside the actor."""

    _receive: trio.MemoryReceiveChannel[AttemptReply]
    _scope: trio.CancelScope
    usage: Usage | None = None  # what the stream reported so far
    _final: StreamEnded | StreamBroke | None = None

    async def next_event(self) -> StreamData | StreamEnded | StreamBroke:
        if self._final is not None:
            await trio.lowlevel.checkpoint()
            return self._final
        while True:
            try:
                message = await self._receive.receive()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                message = StreamBroke(LOST)
            if isinstance(message, StreamData):
                return message
            if isinstance(message, StreamUsage):
                self.usage = message.usage
                continue
            if not isinstance(message, StreamEnded | StreamBroke):
                message = StreamBroke(_unexpected(message))
            self._final = message
            self._stop()
            return message

    async def aclose(self) -> None:
        self._stop()
        await trio.lowlevel.checkpoint()

    def _stop(self) -> None:
        self._scope.cancel()
        self._receive.close()


def _unexpected(message: object) -> UpstreamFailure:
    name = type(message).__name__
    return UpstreamFailure(FailureClass.SERVER, f"the provider actor answered out of turn ({name})")
