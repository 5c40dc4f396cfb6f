"""Runs baton in this process: the actor system and the HTTP server, in one nursery."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import trio

from actors.system import ActorSystem
from config.model import Config
from edge.app import create_handler
from edge.wire import bind_sockets, serve_http

KEEPALIVE_TIMEOUT = 75.0  # longer than clients' pools keep idle connections


async def serve(
    config: Config,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    sockets: list[socket.socket] | None = None,
    data_dir: Path | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until `shutdown_trigger` returns (or forever). Reports the bound URLs on start.
    `sockets`, already bound and listening, are used instead of binding host:port (workers).
    State goes to `data_dir`; without one it is kept in memory only."""
    async with trio.open_nursery() as actors:
        system = await ActorSystem.start(actors, config, data_dir)
        listening = sockets if sockets is not None else bind_sockets(host, port)
        async with trio.open_nursery() as http:
            urls = await http.start(
                partial(
                    serve_http,
                    create_handler(system),
                    listening,
                    max_body=config.server.max_body_bytes,
                    keepalive_timeout=KEEPALIVE_TIMEOUT,
                    read_timeout=config.timeouts.total,
                    graceful_timeout=config.server.shutdown_grace,
                    shutdown_trigger=shutdown_trigger or trio.sleep_forever,
                )
            )
            task_status.started(urls)
        actors.cancel_scope.cancel()  # every connection has ended: stop the actors
