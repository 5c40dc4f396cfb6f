"""Binding and accepting: listening sockets, one `Connection` task per client, and a graceful
stop: no new connections; idle ones closed at once; busy ones may finish their reply within
`graceful_timeout`; then a call still waiting is answered 503 and a stream still running ends
with its protocol's own error event (never a silent cut), and whatever is left is cancelled."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from functools import partial

import trio

from edge.wire.connection import Connection
from edge.wire.messages import Handler

BACKLOG = 4096
_POLL = 0.05  # how often a stopping server looks whether its connections have ended
_INTERRUPT_LIMIT = 2.0  # after the grace period: time to say goodbye, then everything is cut


def bind_sockets(host: str, port: int, backlog: int = BACKLOG) -> list[socket.socket]:
    """Bound, listening sockets for host:port (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return [sock]


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve_http(
    handler: Handler,
    sockets: list[socket.socket],
    *,
    max_body: int,
    keepalive_timeout: float = 75.0,
    read_timeout: float = 60.0,
    graceful_timeout: float = 10.0,
    shutdown_trigger: Callable[[], Awaitable[None]] = trio.sleep_forever,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until `shutdown_trigger` returns, then stop gracefully. Reports the URLs."""
    closing = trio.Event()
    live: set[Connection] = set()

    async def serve_connection(stream: trio.SocketStream) -> None:
        connection = Connection(
            stream,
            handler,
            max_body=max_body,
            keepalive_timeout=keepalive_timeout,
            read_timeout=read_timeout,
            closing=closing,
        )
        live.add(connection)
        try:
            await connection.run()
        finally:
            live.discard(connection)

    listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(sock)) for sock in sockets]
    async with trio.open_nursery() as connections:
        async with trio.open_nursery() as accepting:
            await accepting.start(
                partial(trio.serve_listeners, handler_nursery=connections),
                serve_connection,
                listeners,
            )
            task_status.started([url_of(sock) for sock in sockets])
            await shutdown_trigger()
            accepting.cancel_scope.cancel()
        closing.set()
        for connection in list(live):
            connection.stop_if_idle()
        with trio.move_on_after(graceful_timeout):
            while live:  # calls and streams in flight may finish
                await trio.sleep(_POLL)
        for connection in list(live):
            connection.interrupt()  # answered 503, or ended with an in-band error
        connections.cancel_scope.deadline = trio.current_time() + _INTERRUPT_LIMIT
