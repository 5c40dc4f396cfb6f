"""How a connection ends: two repairs to how Hypercorn's trio worker and Quart-Trio end one.

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
   (CLOSE-WAIT, a descriptor held) until the timer ran out, `KEEPALIVE_TIMEOUT` later. Its
   asyncio worker stops the timer when the connection closes; this does the same.
3. A client that stops reading is let go (`ClosingTCPServer.protocol_send`). Hypercorn writes
   to the socket shielded from cancellation and without a time limit, so a client that never
   reads held its stream, the upstream request and its key for good, and held a stop past its
   grace for as long as it stayed connected. Each write now has `WRITE_TIMEOUT` to finish
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
   write lock, so a write under way ends first (within its `WRITE_TIMEOUT`); it is skipped when
   the closing task is the writer itself, and a write that still meets a busy socket is taken
   as the connection closing.
"""

from __future__ import annotations

from typing import Any

import trio
from hypercorn.events import Closed, Event, RawData
from hypercorn.trio import run as hypercorn_trio_run
from hypercorn.trio.tcp_server import TCPServer

WRITE_TIMEOUT = 60.0  # a client that takes longer to accept one write is taken to be gone


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

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._cut_writes_when_stopped)
            try:
                await super().run()
            finally:
                nursery.cancel_scope.cancel()

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
            await super().protocol_send(event)
            return
        async with self.send_lock:
            try:
                with trio.CancelScope(shield=True) as writing:
                    writing.deadline = trio.current_time() + WRITE_TIMEOUT
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
                async with self.send_lock:  # a write under way ends first (WRITE_TIMEOUT)
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
        await super()._read_data()  # returns when the client has closed (or the socket has)
        await self.idle_task.stop()


def use_closing_tcp_server() -> None:
    """Make Hypercorn's trio worker serve each connection with `ClosingTCPServer`."""
    hypercorn_trio_run.TCPServer = ClosingTCPServer  # type: ignore[attr-defined]
