"""How a connection ends: repairs to how Hypercorn's trio worker and Quart-Trio end one, and the
limits on slow and greedy clients Hypercorn's trio worker does not keep itself.

1. The last message of an HTTP reply is sent shielded from cancellation (`ShieldReplyEnd`, an
   ASGI layer). Hypercorn hands the app its `http.disconnect` from inside the send of a
   reply's last body message (the reply ending closes the stream, and closing the stream tells
   the app), and Quart-Trio cancels the request's tasks as soon as it reads that message. The
   rest of that send is exactly what Hypercorn does once a reply is over, and it ran
   cancelled: close the connection (after `Connection: close`, HTTP/1.0, or a reply sent
   before the request body was in, such as a 413), or restart the keep-alive idle timer. The
   connection was left open with no timer: never closed after such a reply, never timed out
   when idle, not closed at once when the gateway stops. Shielded, the send finishes that
   work; it adds no wait of its own (Hypercorn's socket writes are shielded already).
2. A connection the client has closed ends at once (`ClosingTCPServer`). Hypercorn's trio
   worker closes a connection's socket only when all of its tasks have ended, and the idle
   timer is one of them: a client that closed an idle keep-alive connection left it open
   (CLOSE-WAIT, a descriptor held) until the timer ran out, `server.keepalive_timeout` later. Its
   asyncio worker stops the timer when the connection closes; this does the same.
3. A client that stops reading is let go (`ClosingTCPServer.protocol_send`). Hypercorn writes
   to the socket shielded from cancellation and without a time limit, so a client that never
   reads held its stream, the upstream request and its key for good, and held a stop past its
   grace for as long as it stayed connected. Each write now has `server.write_timeout` to finish
   (the shield still keeps a cancelled request from cutting a write in half), and once the
   gateway has been stopping for Hypercorn's `graceful_timeout`, a write still blocked is cut.
   A write that does not finish is the client gone: the connection is closed, which tells the
   app (`http.disconnect`), and the request's call is cancelled like any other.
4. Closing never races a write (`ClosingTCPServer._close`). Hypercorn's trio worker half-closes
   the socket (`send_eof`) outside the lock its writes take, and `send_eof` yields inside
   trio's send-conflict guard; a reply being written at that moment (the app answering just as
   the client's side ends, or a refused request's reply racing h11's own error) raised
   `trio.BusyResourceError`, which Hypercorn does not catch: in the app's task it lost the
   reply, in the connection's reading task it escaped into the worker's nursery and stopped the
   server (200 slow-body clients disconnecting at once did it). Here the half-close takes the
   write lock, so a write under way ends first (within `server.write_timeout`); it is skipped
   when the closing task is the writer itself, and a write that still meets a busy socket is
   taken as the connection closing.
5. A request head must arrive within `header_timeout` of its first byte (slowloris). Hypercorn
   bounds only the time a connection waits idle (`keep_alive_timeout`, from the connection's
   start or the end of its last reply to a whole head), so a head trickled a byte at a time
   held the connection that long. Each connection has one watchdog: a cancel scope whose
   deadline is set when the first byte of an HTTP/1 head arrives and lifted when Hypercorn
   reports the head whole (`Updated(idle=False)`); at the deadline the connection is closed.
   Setting a deadline costs no task, so a request that arrives in one read pays nothing more.
   (HTTP/2 frames its heads itself and is left to Hypercorn's idle timer.) A slow body is
   Quart's `BODY_TIMEOUT` (`server.body_timeout`, a 408).
6. At most `max_connections` connections are open per worker. One more is refused at once: a
   503 with `Connection: close` (plain HTTP; TLS is just closed) written within a second,
   then closed, so the listener keeps accepting and nothing queues behind the cap.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.events import Closed, Event, RawData, Updated
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.trio import run as hypercorn_trio_run
from hypercorn.trio.tcp_server import MAX_RECV, TCPServer
from hypercorn.trio.worker_context import WorkerContext
from loguru import logger

from protocols.errors import GatewayOverloaded

REFUSE_TIMEOUT = 1.0  # the most a refused connection gets to take its 503
REFUSAL_LOG_EVERY = 10.0  # seconds between warnings about refused connections
_BUSY_BODY = GatewayOverloaded(
    "the gateway has too many open connections; retry shortly", code="too_many_connections"
).body()
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"retry-after: 1\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%b"
    % (len(_BUSY_BODY), _BUSY_BODY)
)


class EdgeConfig(HypercornConfig):
    """Hypercorn's settings, plus the client limits `ClosingTCPServer` keeps."""

    header_timeout: float = math.inf  # seconds from a request head's first byte to its end
    max_connections: int | None = None  # open connections per worker
    write_timeout: float = 60.0  # seconds one write may take: then the client is taken as gone


class _Open:
    """How many connections a worker has open, and when a refusal was last logged."""

    __slots__ = ("count", "logged_at")

    def __init__(self) -> None:
        self.count = 0
        self.logged_at = -math.inf


_OPEN: weakref.WeakKeyDictionary[WorkerContext, _Open] = weakref.WeakKeyDictionary()


class ShieldReplyEnd:
    """ASGI middleware: `http.response.body` without `more_body` is sent shielded."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_end_shielded(message: Any) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                with trio.CancelScope(shield=True):
                    await send(message)
            else:
                await send(message)

        await self.app(scope, receive, send_end_shielded)


class ClosingTCPServer(TCPServer):
    """Hypercorn's connection, which ends once the client has closed its side or stopped
    reading."""

    _writing: trio.CancelScope | None = None
    _writes_cut = False
    _awaiting_head = True  # no head has begun since the connection or its last request began
    _head_watch: trio.CancelScope | None = None

    async def run(self) -> None:
        cap = getattr(self.config, "max_connections", None)
        open_ = _OPEN.setdefault(self.context, _Open())
        if cap is not None and open_.count >= cap:
            await self._refuse(open_, cap)
            return
        open_.count += 1
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._cut_writes_when_stopped)
                await nursery.start(self._cut_slow_heads)
                try:
                    await super().run()
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            open_.count -= 1

    async def _refuse(self, open_: _Open, cap: int) -> None:
        now = trio.current_time()
        if now - open_.logged_at >= REFUSAL_LOG_EVERY:
            open_.logged_at = now
            logger.warning(
                "refusing connections: {} open, the most server.max_connections allows", cap
            )
        with trio.move_on_after(REFUSE_TIMEOUT):
            try:
                if not isinstance(self.stream, trio.SSLStream):
                    await self.stream.send_all(_BUSY)
                    await self.stream.send_eof()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
        with trio.CancelScope(shield=True):
            await self.stream.aclose()

    async def _cut_slow_heads(self, task_status: trio.TaskStatus[None]) -> None:
        """Close the connection once its watch's deadline passes (set in `_read_data`)."""
        with trio.CancelScope() as watch:
            self._head_watch = watch
            task_status.started()
            await trio.sleep_forever()
        if watch.cancelled_caught:  # the deadline, not the connection ending
            with trio.CancelScope(shield=True):
                await self.protocol.handle(Closed())
                await self.stream.aclose()

    async def _cut_writes_when_stopped(self) -> None:
        """Once stopping, at Hypercorn's own deadline (which cancels this task as it cancels
        the connection's others, shielded writes excepted), cut a write still blocked."""
        try:
            await self.context.terminated.wait()
            await trio.sleep(self.config.graceful_timeout)
        finally:
            if self.context.terminated.is_set():
                self._writes_cut = True
                if self._writing is not None:
                    self._writing.cancel()

    async def protocol_send(self, event: Event) -> None:
        if not isinstance(event, RawData):
            if isinstance(event, Updated):
                self._awaiting_head = event.idle
                if not event.idle and self._head_watch is not None:
                    self._head_watch.deadline = math.inf  # the head is whole
            await super().protocol_send(event)
            return
        async with self.send_lock:
            try:
                with trio.CancelScope(shield=True) as writing:
                    writing.deadline = trio.current_time() + _write_timeout(self.config)
                    if self._writes_cut:
                        writing.cancel()
                    self._writing = writing
                    try:
                        await self.stream.send_all(event.data)
                    finally:
                        self._writing = None
                if writing.cancelled_caught:
                    raise trio.BrokenResourceError("the client stopped reading")
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
                await self.protocol.handle(Closed())

    async def _close(self) -> None:
        with trio.CancelScope(shield=True):  # the socket is closed even in a cancelled task
            if self.send_lock.statistics().owner is not trio.lowlevel.current_task():
                async with self.send_lock:  # a write under way ends first (write_timeout)
                    try:
                        await self.stream.send_eof()
                    except (
                        trio.BrokenResourceError,
                        trio.BusyResourceError,
                        trio.ClosedResourceError,
                        AttributeError,  # TLS, which has no half-close
                    ):
                        pass
            await self.stream.aclose()

    async def _read_data(self) -> None:
        """Hypercorn's read loop (less its unused `read_timeout`), which starts the head
        watch on a head's first byte and, once the client has closed, stops the idle timer."""
        header_timeout = getattr(self.config, "header_timeout", math.inf)
        while True:
            try:
                data = await self.stream.receive_some(MAX_RECV)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                break
            watch = self._head_watch
            if (
                data
                and self._awaiting_head
                and watch is not None
                and watch.deadline == math.inf
                and isinstance(self.protocol.protocol, H11Protocol)
            ):
                watch.deadline = trio.current_time() + header_timeout
            await self.protocol.handle(RawData(bytes(data)))
            if not data:
                break
        await self.protocol.handle(Closed())
        await self.idle_task.stop()


def use_closing_tcp_server() -> None:
    """Make Hypercorn's trio worker serve each connection with `ClosingTCPServer`."""
    hypercorn_trio_run.TCPServer = ClosingTCPServer  # type: ignore[attr-defined]


def _write_timeout(config: HypercornConfig) -> float:
    return getattr(config, "write_timeout", EdgeConfig.write_timeout)
